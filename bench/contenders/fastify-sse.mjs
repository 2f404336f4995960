/**
 * (5) @fastify/sse: it has no channels, so the app keeps the set of open replies and calls
 * reply.sse.send() on each (its README's pattern). Replay uses its reply.sse.replay() hook with
 * an app-kept history, as its README shows, so it can take part in the reconnect storm.
 */
import fastifySse from '@fastify/sse';
import Fastify from 'fastify';
import { createControl } from './common.mjs';
import { serveFastify } from './serve.mjs';

const HISTORY = 1000;
const clients = new Set();
const history = [];

const control = createControl({
  name: '@fastify/sse',
  variant: '@fastify/sse 0.6.0 on fastify 5.12.8, reply.sse.send per client',
  clients: () => clients.size,
  publish(payload, seq) {
    const message = { id: String(seq), data: payload };
    history.push(message);
    if (history.length > HISTORY) history.shift();
    for (const reply of clients) reply.sse.send(message).catch(() => {});
    return message.id;
  },
});

const app = Fastify({ logger: false });
await app.register(fastifySse);

app.get('/sse', { sse: 'only' }, async (_request, reply) => {
  reply.sse.keepAlive();
  reply.sse.sendHeaders();
  // sendHeaders() only calls writeHead(), which Node holds back until the first write: without
  // this the client sees no response until the first event (or the 30 s heartbeat).
  reply.raw.flushHeaders();
  await reply.sse.replay(async (lastEventId) => {
    const at = history.findIndex((m) => m.id === lastEventId);
    const missed = at === -1 ? history : history.slice(at + 1);
    for (const message of missed) await reply.sse.send(message);
  });
  clients.add(reply);
  reply.sse.onClose(() => clients.delete(reply));
});
await serveFastify(app, control);
