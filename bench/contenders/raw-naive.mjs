/** (1) The floor users know: node:http, a pre-built string per event, res.write per client. */
import { createControl } from './common.mjs';
import { openRawStream, serveNodeHttp } from './serve.mjs';

const clients = new Set();

const control = createControl({
  name: 'raw',
  variant: 'node:http, res.write(string) per event per client',
  clients: () => clients.size,
  publish(payload, seq) {
    const frame = `id: ${seq}\ndata: ${payload}\n\n`;
    for (const res of clients) res.write(frame);
    return seq;
  },
});

serveNodeHttp(control, (_req, res) => openRawStream(res, clients));
