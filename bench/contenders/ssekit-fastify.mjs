/**
 * (3) @ssekit/fastify: `app.register(ssekit, { hub })` and `app.get('/sse', channel('bcast'))`. Until the plugin is built, the same route hijacks the reply
 * and runs core's SseStream + hub directly (the variant string in /stats says which ran).
 */
import { existsSync } from 'node:fs';
import { createHub, SseStream } from '@ssekit/core';
import Fastify from 'fastify';
import { createControl, reportReady } from './common.mjs';

const adapterBuilt = existsSync(new URL('../../packages/fastify/dist/index.js', import.meta.url));
const hub = createHub();

const control = createControl({
  name: 'ssekit-fastify',
  variant: adapterBuilt
    ? "@ssekit/fastify on fastify 5.12.8, route channel('bcast'), in-memory hub"
    : '@ssekit/core SseStream + hub on fastify 5.12.8 (plugin not built yet)',
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

const app = Fastify({ logger: false });
if (adapterBuilt) {
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
    stream.subscribe('bcast').catch(() => reply.raw.destroy());
  });
}
app.post('/broadcast', (request) => control.broadcast(new URLSearchParams(request.query)));
app.get('/stats', (request) => control.stats(new URLSearchParams(request.query)));

await app.listen({ port: 0, host: '127.0.0.1' });
reportReady(app.server.address().port);
