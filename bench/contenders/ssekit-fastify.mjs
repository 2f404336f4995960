/**
 * (3) @ssekit/fastify: `app.register(ssekit, { hub })` and `app.get('/sse', channel('bcast'))`.
 * Until the plugin is built, the same route hijacks the reply and runs core's SseStream + hub
 * directly (the variant string in /stats says which ran).
 */
import { createHub, SseStream } from '@ssekit/core';
import Fastify from 'fastify';
import { adapterBuilt, createHubControl } from './common.mjs';
import { serveFastify } from './serve.mjs';

const built = adapterBuilt('fastify');
const hub = createHub();

const control = createHubControl(hub, {
  name: 'ssekit-fastify',
  variant: built
    ? "@ssekit/fastify on fastify 5.12.8, route channel('bcast'), in-memory hub"
    : '@ssekit/core SseStream + hub on fastify 5.12.8 (plugin not built yet)',
});

const app = Fastify({ logger: false });
if (built) {
  const mod = await import('@ssekit/fastify');
  await app.register(mod.ssekit ?? mod.default, { hub });
  if (typeof mod.channel === 'function') {
    app.get('/sse', mod.channel('bcast'));
  } else {
    app.get('/sse', { sse: true }, async (_request, reply) => {
      await reply.sse.subscribe('bcast');
      return reply;
    });
  }
} else {
  app.get('/sse', (request, reply) => {
    reply.hijack();
    const stream = new SseStream(reply.raw, {}, { request: request.raw, hub });
    hub.subscribe(stream, 'bcast').catch(() => reply.raw.destroy());
  });
}
await serveFastify(app, control);
