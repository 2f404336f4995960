/**
 * (2) ssekit runs in memory: `res.sse.startRun(source, { key })` answers POST /chat with the
 * stream, and `run()` serves GET /chat/:key (resume from Last-Event-ID).
 */
import { createHub } from '@ssekit/core';
import { createApp, listen, runRoutes } from './runs-common.mjs';

const hub = createHub();
const app = createApp({
  name: 'runs-memory',
  variant: '@ssekit/express res.sse.startRun() + run(), in-memory hub',
  extraStats: () => ({ runs: hub.stats().runs }),
});
runRoutes(app, hub);
listen(app);
