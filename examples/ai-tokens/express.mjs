/**
 * AI-style token streaming on Express: `res.sse.pipe()` streams an async generator, and stops
 * it when the client leaves.
 *
 *   node examples/ai-tokens/express.mjs      (after `pnpm build`; PORT, HOST)
 */
import { fileURLToPath } from 'node:url';
import { sse } from '@ssekit/express';
import express from 'express';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { createFakeModel } from './fake-model.mjs';

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url));

/**
 * @param {{ hub?: import('@ssekit/core').Hub, model?: ReturnType<typeof createFakeModel>,
 *   stream?: import('@ssekit/express').SseOptions }} [options]
 *   `hub` is optional: given, `hub.close()` also ends answers in progress.
 */
export function createTokensApp({ hub, model = createFakeModel(), stream = {} } = {}) {
  const app = express();
  app.use(sse({ hub, ...stream }));
  app.get('/', (_req, res) => res.sendFile(PAGE));
  app.get('/generate', async (req, res) => {
    const prompt = String(req.query.prompt ?? '').slice(0, 200);
    // Each word is one event. When the client leaves (Stop), the signal aborts the model's
    // current wait and pipe() calls the generator's return(): it is finalised at once.
    await res.sse.pipe(model.generate(prompt, { signal: res.sse.signal }));
    // The answer is complete: say so, or the browser would reconnect and ask again.
    res.sse.close({ event: 'done', data: '' });
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
