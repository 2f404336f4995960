/**
 * (7) The smart floor, not a library: frames published in one tick are joined into one Buffer,
 * written once to every client on the next setImmediate.
 */
import { createControl } from './common.mjs';
import { openRawStream, serveNodeHttp } from './serve.mjs';

const clients = new Set();
let pending = [];

function flush() {
  const joined = Buffer.from(pending.join(''));
  pending = [];
  for (const res of clients) res.write(joined);
}

const control = createControl({
  name: 'raw-coalesce',
  variant: 'node:http, one joined Buffer per tick per client',
  clients: () => clients.size,
  publish(payload, seq) {
    if (pending.length === 0) setImmediate(flush);
    pending.push(`id: ${seq}\ndata: ${payload}\n\n`);
    return seq;
  },
});

serveNodeHttp(control, (_req, res) => openRawStream(res, clients));
