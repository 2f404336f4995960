/**
 * AI-style token streaming on Express, as resumable runs: the model's answer is consumed under a
 * key, independently of any connection, so a dropped connection or a reload resumes it, two tabs
 * follow it, and Stop reaches it from any request.
 *
 *   POST /chat            { prompt }  answers with the stream itself (SSE-Run-Key header, then a
 *                                      first `ssekit-run` event { key })
 *   POST /chat/new        { prompt }  answers { key }: the page opens new EventSource('chat/' + key)
 *   GET  /chat/:key                    follows a run: replay from Last-Event-ID (or the start), live,
 *                                      then one `done` / `stopped` / `error` event
 *   POST /chat/:key/stop               stops the run wherever it runs
 *
 *   node examples/ai-tokens/express.mjs      (after `pnpm build`; PORT, HOST, REDIS_URL)
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { run, SseRefusal, sse } from '@ssekit/express';
import express from 'express';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { createFakeModel } from './fake-model.mjs';

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url));

/** The prompt from a JSON body, bounded. */
const promptOf = (body) => String(body?.prompt ?? '').slice(0, 200);

/**
 * @param {{ hub: import('@ssekit/core').Hub, model?: ReturnType<typeof createFakeModel>,
 *   stream?: import('@ssekit/express').SseOptions }} options
 *   The runs live on `hub` (in memory, or in Redis with `@ssekit/redis`).
 */
export function createTokensApp({ hub, model = createFakeModel(), stream = {} }) {
  /** The model's answer to `prompt` as a run's source; the run hands it its AbortSignal. */
  const answer = (prompt, key) => (signal) => model.generate(prompt, { signal, key });

  const app = express();
  app.use(sse({ hub, ...stream }));
  app.use(express.json());
  app.get('/', (_req, res) => res.sendFile(PAGE));

  // Shape 1: the POST answers with the stream, as fetch-based AI clients expect.
  app.post('/chat', async (req, res) => {
    const key = randomUUID();
    await res.sse.startRun(answer(promptOf(req.body), key), { key });
  });

  // Shape 2: the POST answers the key; the page follows it with EventSource.
  app.post('/chat/new', async (req, res) => {
    const key = randomUUID();
    await hub.startRun(answer(promptOf(req.body), key), { key });
    res.json({ key });
  });

  // Followers, with no handler code: unknown key 404, ended and forgotten 204.
  app.get(
    '/chat/:key',
    run((req) => req.params.key),
  );

  app.post('/chat/:key/stop', async (req, res) => {
    res.json({ stopped: await hub.stopRun(req.params.key) });
  });

  // A refused follower (404: no such run) answers JSON, as on Fastify, without a logged stack.
  app.use((error, _req, res, next) => {
    if (!(error instanceof SseRefusal)) return next(error);
    res.status(error.status).json({ error: error.message });
  });
  return app;
}

if (isMain(import.meta.url)) {
  const hub = await createExampleHub();
  const { port, host } = listenAddress();
  const server = createTokensApp({ hub }).listen(port, host, () => {
    console.log(`AI tokens (Express) on http://${host}:${port}/`);
  });
  closeOnSignals(async () => {
    await hub.close();
    server.close();
    // The streams are over; drop the browser's idle and pre-opened sockets too, so node exits now.
    server.closeAllConnections();
  });
}
