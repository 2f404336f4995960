/**
 * (diagnostic) @ssekit/core alone on node:http: `new SseStream(res, {}, { request, hub })` and
 * `hub.subscribe(stream, 'bcast')`, no framework. Separates ssekit's own cost from Express's or Fastify's.
 */
import { createHub, SseStream } from '@ssekit/core';
import { createHubControl } from './common.mjs';
import { serveNodeHttp } from './serve.mjs';

const hub = createHub();

const control = createHubControl(hub, {
  name: 'ssekit-core',
  variant: '@ssekit/core SseStream + in-memory hub on node:http, no framework',
});

serveNodeHttp(control, (req, res) => {
  const stream = new SseStream(res, {}, { request: req, hub });
  hub.subscribe(stream, 'bcast').catch(() => res.destroy());
});
