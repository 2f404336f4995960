/**
 * (2) ssekit runs in memory: `res.sse.startRun(source, { key })` answers POST /chat with the
 * stream, and `run()` serves GET /chat/:key (resume from Last-Event-ID).
 */
import { createHub } from '@ssekit/core';
import { run, sse } from '@ssekit/express';
import { chatParams, createApp, listen, tokens } from './runs-common.mjs';

const hub = createHub();
const app = createApp({
  name: 'runs-memory',
  variant: '@ssekit/express res.sse.startRun() + run(), in-memory hub',
  extraStats: () => ({ runs: hub.stats().runs }),
});
app.use(sse({ hub }));
app.post('/chat', (req, res) => {
  const { key, n, interval } = chatParams(req);
  void res.sse.startRun((signal) => tokens(key, n, interval, signal), { key });
});
app.get(
  '/chat/:key',
  run((req) => req.params.key),
);
listen(app);
