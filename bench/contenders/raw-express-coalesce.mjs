/**
 * (8) The Express floor for @ssekit/express: a bare Express 5 route doing by hand what the
 * adapter does (SSE headers, then frames published in one tick joined into one Buffer, written
 * once to every client on the next setImmediate), as raw-coalesce.mjs does on node:http. The
 * adapter's own share per idle connection is ssekit-express's heap minus this one's.
 */
import express from 'express';
import { createControl } from './common.mjs';
import { openRawStream, serveExpress } from './serve.mjs';

const clients = new Set();
let pending = [];

function flush() {
  const joined = Buffer.from(pending.join(''));
  pending = [];
  for (const res of clients) res.write(joined);
}

const control = createControl({
  name: 'raw-express-coalesce',
  variant: 'express 5.3.0 route, one joined Buffer per tick per client',
  clients: () => clients.size,
  publish(payload, seq) {
    if (pending.length === 0) setImmediate(flush);
    pending.push(`id: ${seq}\ndata: ${payload}\n\n`);
    return seq;
  },
});

const app = express();
app.get('/sse', (_req, res) => openRawStream(res, clients));
serveExpress(app, control);
