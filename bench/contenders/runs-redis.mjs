/**
 * (3) ssekit runs through Redis: the same routes as runs-memory.mjs on a hub with the
 * @ssekit/redis store (REDIS_URL, REDIS_PREFIX from the driver), so run state, history and
 * followers go through redis-server and a run can be resumed on another process.
 */
import { createHub } from '@ssekit/core';
import { redisStore } from '@ssekit/redis';
import { createApp, listen, runRoutes } from './runs-common.mjs';

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
runRoutes(app, hub);
listen(app);
