/**
 * AI-style token streaming on Fastify: `reply.sse(iterable)` streams an async generator, and
 * stops it when the client leaves.
 *
 *   node examples/ai-tokens/fastify.mjs      (after `pnpm build`; PORT, HOST)
 */
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sse } from '@ssekit/fastify';
import Fastify from 'fastify';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { createFakeModel } from './fake-model.mjs';

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url));
const DONE = Symbol('done');

/** The model's words, then DONE: the answer is complete. */
async function* thenDone(words) {
  yield* words;
  yield DONE;
}

/** Each word is one event; DONE tells the page to close, or the browser would ask again. */
const toEvent = (value) => (value === DONE ? { event: 'done', data: '' } : { data: value });

/** The example's routes, as a plugin: register it with a `prefix` to mount it anywhere. */
export async function tokensRoutes(app, { model = createFakeModel() } = {}) {
  app.get('/', (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(createReadStream(PAGE)),
  );
  app.get('/generate', (request, reply) => {
    const prompt = String(request.query.prompt ?? '').slice(0, 200);
    const words = model.generate(prompt, { signal: reply.sse.signal });
    // Streams each value as an event, then ends the response. When the client leaves (Stop),
    // the signal aborts the model's current wait and the generator gets return(): it is finalised.
    return reply.sse(thenDone(words), { map: toEvent });
  });
}

/**
 * @param {{ hub?: import('@ssekit/core').Hub, model?: ReturnType<typeof createFakeModel>,
 *   stream?: import('@ssekit/fastify').SseOptions }} [options]
 *   `hub` is optional: given, `hub.close()` also ends answers in progress.
 */
export async function createTokensApp({ hub, model, stream = {} } = {}) {
  // On close, also drop the browser's idle and pre-opened sockets, so the process exits at once.
  const app = Fastify({ forceCloseConnections: true });
  await app.register(sse, { hub, ...stream });
  await app.register(tokensRoutes, { model });
  return app;
}

if (isMain(import.meta.url)) {
  const hub = await createExampleHub();
  const app = await createTokensApp({ hub });
  const { port, host } = listenAddress();
  await app.listen({ port, host });
  console.log(`AI tokens (Fastify) on http://${host}:${port}/`);
  closeOnSignals(async () => {
    await app.close();
    await hub.close();
  });
}
