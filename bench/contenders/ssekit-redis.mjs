/**
 * @ssekit/express with the Redis store: one of several processes sharing channels through one
 * redis-server (REDIS_URL, REDIS_PREFIX from the driver). Same contract as the other contenders.
 */
import { createHub } from '@ssekit/core';
import { sse } from '@ssekit/express';
import { redisStore } from '@ssekit/redis';
import express from 'express';
import { createControl, reportReady } from './common.mjs';

const hub = createHub({
  store: redisStore({ url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX }),
});

const control = createControl({
  name: 'ssekit-redis',
  variant: '@ssekit/express + @ssekit/redis store on express 5.3.0, 3 processes, one redis-server',
  clients: () => hub.stats().clients,
  publish: (payload) => hub.publish('bcast', payload),
});

const app = express();
app.use(sse({ hub }));
app.get('/sse', sse.channel('bcast'));
app.post('/broadcast', (req, res, next) => {
  control
    .broadcast(new URLSearchParams(req.url.split('?')[1] ?? ''))
    .then((r) => res.json(r), next);
});
app.get('/stats', (req, res) =>
  res.json(control.stats(new URLSearchParams(req.url.split('?')[1] ?? ''))),
);

const server = app.listen(0, '127.0.0.1', () => reportReady(server.address().port));
