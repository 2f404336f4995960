/**
 * (7) The smart floor, not a library: frames published in one tick are joined into one Buffer,
 * written once to every client on the next setImmediate.
 */
import { createServer } from 'node:http';
import { createControl, handleControl, reportReady } from './common.mjs';

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

const server = createServer((req, res) => {
  if (handleControl(control, req, res)) return;
  if (req.method === 'GET' && req.url === '/sse') {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    clients.add(res);
    res.on('close', () => clients.delete(res));
    return;
  }
  res.writeHead(404).end();
});

server.listen(0, '127.0.0.1', () => reportReady(server.address().port));
