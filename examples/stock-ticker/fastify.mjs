/**
 * The stock ticker on Fastify: the same page and the same hub code as the Express flavour;
 * `/prices` is a hub channel served with no handler code.
 *
 *   node examples/stock-ticker/fastify.mjs      (after `pnpm build`; PORT, HOST)
 */
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { channel, sse } from '@ssekit/fastify';
import Fastify from 'fastify';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { startPriceFeed } from './prices.mjs';

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url));

/** The ticker's routes, as a plugin: register it with a `prefix` to mount it anywhere. */
export async function tickerRoutes(app) {
  app.get('/', (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(createReadStream(PAGE)),
  );
  // Replays from the browser's Last-Event-ID, then streams live prices.
  app.get('/prices', channel('prices'));
}

/**
 * @param {{ hub: import('@ssekit/core').Hub, stream?: import('@ssekit/fastify').SseOptions }} options
 *   `stream`: stream options such as `retry` or `heartbeat`.
 */
export async function createTickerApp({ hub, stream = {} }) {
  // On close, also drop the browser's idle and pre-opened sockets, so the process exits at once.
  const app = Fastify({ forceCloseConnections: true });
  await app.register(sse, { hub, ...stream });
  await app.register(tickerRoutes);
  // Readiness probe: 503 while the hub drains, after it closed, or while its store is not ready.
  app.get('/healthz', async (_request, reply) => {
    const health = hub.health();
    return reply.code(health.ready ? 200 : 503).send(health);
  });
  return app;
}

if (isMain(import.meta.url)) {
  const hub = await createExampleHub();
  const feed = startPriceFeed(hub);
  const app = await createTickerApp({ hub });
  const { port, host } = listenAddress();
  await app.listen({ port, host });
  console.log(`Stock ticker (Fastify) on http://${host}:${port}/`);
  // app.close() ends the open streams too (the plugin's preClose hook).
  closeOnSignals(async () => {
    feed.stop();
    await app.close();
    await hub.close();
  });
}
