/**
 * (2) @ssekit/express: `app.use(sse({ hub }))` and `app.get('/sse', sse.channel('bcast'))`.
 * Until the adapter is built, the same route on Express runs core's SseStream + hub directly
 * (the variant string in /stats says which ran).
 */
import { createHub, SseStream } from '@ssekit/core';
import express from 'express';
import { adapterBuilt, createHubControl } from './common.mjs';
import { serveExpress } from './serve.mjs';

const built = adapterBuilt('express');
const hub = createHub();

const control = createHubControl(hub, {
  name: 'ssekit-express',
  variant: built
    ? '@ssekit/express on express 5.3.0, sse.channel(), in-memory hub'
    : '@ssekit/core SseStream + hub on express 5.3.0 (adapter not built yet)',
});

const app = express();
if (built) {
  const { sse } = await import('@ssekit/express');
  app.use(sse({ hub }));
  app.get('/sse', sse.channel('bcast'));
} else {
  app.get('/sse', (req, res, next) => {
    const stream = new SseStream(res, {}, { request: req, hub });
    hub.subscribe(stream, 'bcast').catch(next);
  });
}
serveExpress(app, control);
