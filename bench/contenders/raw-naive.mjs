/** (1) The floor users know: node:http, a pre-built string per event, res.write per client. */
import { createServer } from 'node:http';
import { createControl, handleControl, reportReady } from './common.mjs';

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
