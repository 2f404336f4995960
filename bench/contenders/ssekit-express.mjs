/**
 * (2) @ssekit/express: `app.use(sse({ hub }))` and `app.get('/sse', sse.channel('bcast'))`.
 * Until the adapter is built, the same route on Express runs core's SseStream + hub directly
 * (the variant string in /stats says which ran).
 */
import { existsSync } from 'node:fs';
import { createHub, SseStream } from '@ssekit/core';
import express from 'express';
import { createControl, reportReady } from './common.mjs';

const adapterBuilt = existsSync(new URL('../../packages/express/dist/index.js', import.meta.url));
const hub = createHub();

const control = createControl({
  name: 'ssekit-express',
  variant: adapterBuilt
    ? '@ssekit/express on express 5.3.0, sse.channel(), in-memory hub'
    : '@ssekit/core SseStream + hub on express 5.3.0 (adapter not built yet)',
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

const app = express();
if (adapterBuilt) {
  const { sse } = await import('@ssekit/express');
  app.use(sse({ hub }));
  app.get('/sse', sse.channel('bcast'));
} else {
  app.get('/sse', (req, res, next) => {
    const stream = new SseStream(res, {}, { request: req, hub });
    stream.subscribe('bcast').catch(next);
  });
}
app.post('/broadcast', (req, res, next) => {
  control
    .broadcast(new URLSearchParams(req.url.split('?')[1] ?? ''))
    .then((r) => res.json(r), next);
});
app.get('/stats', (req, res) =>
  res.json(control.stats(new URLSearchParams(req.url.split('?')[1] ?? ''))),
);

const server = app.listen(0, '127.0.0.1', () => reportReady(server.address().port));
