/**
 * The stock ticker on Express: the page, and `/prices`, a hub channel served with no handler code.
 *
 *   node examples/stock-ticker/express.mjs      (after `pnpm build`; PORT, HOST)
 */
import { fileURLToPath } from 'node:url';
import { channel, sse } from '@ssekit/express';
import express from 'express';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { startPriceFeed } from './prices.mjs';

const PAGE = fileURLToPath(new URL('./index.html', import.meta.url));

/**
 * @param {{ hub: import('@ssekit/core').Hub, stream?: import('@ssekit/express').SseOptions }} options
 *   `stream`: stream options such as `retry` or `heartbeat`.
 */
export function createTickerApp({ hub, stream = {} }) {
  const app = express();
  app.use(sse({ hub, ...stream }));
  app.get('/', (_req, res) => res.sendFile(PAGE));
  // Replays from the browser's Last-Event-ID, then streams live prices.
  app.get('/prices', channel('prices'));
  // Readiness probe: 503 while the hub drains, after it closed, or while its store is not ready.
  app.get('/healthz', (_req, res) => {
    const health = hub.health();
    res.status(health.ready ? 200 : 503).json(health);
  });
  return app;
}

if (isMain(import.meta.url)) {
  const hub = await createExampleHub();
  const feed = startPriceFeed(hub);
  const { port, host } = listenAddress();
  const server = createTickerApp({ hub }).listen(port, host, () => {
    console.log(`Stock ticker (Express) on http://${host}:${port}/`);
  });
  closeOnSignals(async () => {
    feed.stop();
    await hub.close();
    server.close();
    // The streams are over; drop the browser's idle and pre-opened sockets too, so node exits now.
    server.closeAllConnections();
  });
}
