/**
 * AI-style token streaming on Fastify, as resumable runs: the model's answer is consumed under a
 * key, independently of any connection, so a dropped connection or a reload resumes it, two tabs
 * follow it, and Stop reaches it from any request. The routes are those of express.mjs:
 *
 *   POST /chat            { prompt }  answers with the stream itself (SSE-Run-Key header, then a
 *                                      first `ssekit-run` event { key })
 *   POST /chat/new        { prompt }  answers { key }: the page opens new EventSource('chat/' + key)
 *   GET  /chat/:key                    follows a run: replay from Last-Event-ID (or the start), live,
 *                                      then one `done` / `stopped` / `error` event
 *   POST /chat/:key/stop               stops the run wherever it runs
 *
 *   node examples/ai-tokens/fastify.mjs      (after `pnpm build`; PORT, HOST, REDIS_URL)
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run, sse } from '@ssekit/fastify';
import Fastify from 'fastify';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { createFakeModel } from './fake-model.mjs';

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url));

/** The prompt from a JSON body, bounded. */
const promptOf = (body) => String(body?.prompt ?? '').slice(0, 200);

/**
 * The example's routes, as a plugin: register it with a `prefix` to mount it anywhere, after
 * `app.register(sse, { hub })`. The runs live on `hub` (in memory, or in Redis).
 *
 * @param {import('fastify').FastifyInstance} app
 * @param {{ hub: import('@ssekit/core').Hub, model?: ReturnType<typeof createFakeModel> }} options
 */
export async function tokensRoutes(app, { hub, model = createFakeModel() }) {
  /** The model's answer to `prompt` as a run's source; the run hands it its AbortSignal. */
  const answer = (prompt, key) => (signal) => model.generate(prompt, { signal, key });

  app.get('/', (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(createReadStream(PAGE)),
  );

  // Shape 1: the POST answers with the stream, as fetch-based AI clients expect.
  app.post('/chat', { sse: true }, async (request, reply) => {
    const key = randomUUID();
    await reply.sse.startRun(answer(promptOf(request.body), key), { key });
  });

  // Shape 2: the POST answers the key; the page follows it with EventSource.
  app.post('/chat/new', async (request) => {
    const key = randomUUID();
    await hub.startRun(answer(promptOf(request.body), key), { key });
    return { key };
  });

  // Followers, with no handler code: unknown key 404, ended and forgotten 204.
  app.get(
    '/chat/:key',
    run((request) => request.params.key),
  );

  app.post('/chat/:key/stop', async (request) => ({
    stopped: await hub.stopRun(request.params.key),
  }));
}

/**
 * @param {{ hub: import('@ssekit/core').Hub, model?: ReturnType<typeof createFakeModel>,
 *   stream?: import('@ssekit/fastify').SseOptions }} options
 */
export async function createTokensApp({ hub, model, stream = {} }) {
  // On close, also drop the browser's idle and pre-opened sockets, so the process exits at once.
  const app = Fastify({ forceCloseConnections: true });
  await app.register(sse, { hub, ...stream });
  await app.register(tokensRoutes, { hub, model });
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
