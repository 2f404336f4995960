/**
 * (3) ssekit runs through Redis: the same routes as runs-memory.mjs on a hub with the
 * @ssekit/redis store (REDIS_URL, REDIS_PREFIX from the driver), so run state, history and
 * followers go through redis-server and a run can be resumed on another process.
 */
import { createHub } from '@ssekit/core';
import { run, sse } from '@ssekit/express';
import { redisStore } from '@ssekit/redis';
import { chatParams, createApp, listen, tokens } from './runs-common.mjs';

const store = redisStore({ url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX });
if (!store.runs) throw new Error('@ssekit/redis: this build keeps no run state (store.runs)');
const hub = createHub({ store });
const app = createApp({
  name: 'runs-redis',
  variant: '@ssekit/express res.sse.startRun() + run(), @ssekit/redis store',
  extraStats: () => {
    const { runs, store: s } = hub.stats();
    return { runs, deliveredOnRead: s.deliveredOnRead, deliveredOnAppend: s.deliveredOnAppend };
  },
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
