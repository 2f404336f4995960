/**
 * (6) fastify-sse-v2: no channels either, so the app keeps the open replies and calls
 * reply.sse({ id, data }) on each, its README's "individual events" form.
 */
import Fastify from 'fastify';
import { FastifySSEPlugin } from 'fastify-sse-v2';
import { createControl } from './common.mjs';
import { serveFastify } from './serve.mjs';

const clients = new Set();

const control = createControl({
  name: 'fastify-sse-v2',
  variant: 'fastify-sse-v2 4.2.2 on fastify 5.12.8, reply.sse(event) per client',
  clients: () => clients.size,
  publish(payload, seq) {
    const message = { id: String(seq), data: payload };
    for (const reply of clients) reply.sse(message);
    return message.id;
  },
});

const app = Fastify({ logger: false });
await app.register(FastifySSEPlugin);

app.get('/sse', (request, reply) => {
  // The first reply.sse() call hijacks the reply and commits the headers (with retry: 3000).
  reply.sse({ event: 'ready', data: 'ready' });
  clients.add(reply);
  request.socket.on('close', () => clients.delete(reply));
});
await serveFastify(app, control);
