/**
 * @ssekit/express with the Redis store: one of several processes sharing channels through one
 * redis-server (REDIS_URL, REDIS_PREFIX from the driver). Same contract as the other contenders.
 */
import { createHub } from '@ssekit/core';
import { channel, sse } from '@ssekit/express';
import { redisStore } from '@ssekit/redis';
import express from 'express';
import { createHubControl } from './common.mjs';
import { serveExpress } from './serve.mjs';

const hub = createHub({
  store: redisStore({ url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX }),
});

const control = createHubControl(hub, {
  name: 'ssekit-redis',
  variant: '@ssekit/express + @ssekit/redis store on express 5.3.0, 3 processes, one redis-server',
  frameStats: false,
});

const app = express();
app.use(sse({ hub }));
app.get('/sse', channel('bcast'));
serveExpress(app, control);
