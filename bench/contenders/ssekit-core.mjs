/**
 * (diagnostic) @ssekit/core alone on node:http: `new SseStream(res, {}, { request, hub })` and
 * `stream.subscribe('bcast')`, no framework. Separates ssekit's own cost from Express's or Fastify's.
 */
import { createServer } from 'node:http';
import { createHub, SseStream } from '@ssekit/core';
import { createControl, handleControl, reportReady } from './common.mjs';

const hub = createHub();

const control = createControl({
  name: 'ssekit-core',
  variant: '@ssekit/core SseStream + in-memory hub on node:http, no framework',
  clients: () => hub.stats().clients,
  publish: (payload) => hub.publish('bcast', payload),
  extraStats: () => {
    const s = hub.stats();
    return {
      framesWritten: s.framesWritten,
      droppedForOverflow: s.droppedForOverflow,
      replaysServed: s.replaysServed,
    };
  },
});

const server = createServer((req, res) => {
  if (handleControl(control, req, res)) return;
  if (req.method === 'GET' && req.url === '/sse') {
    const stream = new SseStream(res, {}, { request: req, hub });
    stream.subscribe('bcast').catch(() => res.destroy());
    return;
  }
  res.writeHead(404).end();
});

server.listen(0, '127.0.0.1', () => reportReady(server.address().port));
