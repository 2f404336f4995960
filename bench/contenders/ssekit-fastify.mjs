/** (3) @ssekit/fastify: `app.register(sse, { hub })` and `app.get('/sse', channel('bcast'))`. */
import { createHub } from '@ssekit/core';
import { channel, sse } from '@ssekit/fastify';
import Fastify from 'fastify';
import { createHubControl } from './common.mjs';
import { serveFastify } from './serve.mjs';

const hub = createHub();

const control = createHubControl(hub, {
  name: 'ssekit-fastify',
  variant: "@ssekit/fastify on fastify 5.12.8, sse plugin + route channel('bcast'), in-memory hub",
});

const app = Fastify({ logger: false });
await app.register(sse, { hub });
app.get('/sse', channel('bcast'));
await serveFastify(app, control);
