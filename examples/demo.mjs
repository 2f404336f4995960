/**
 * The demo: both examples, in both flavours, in one process and on one port.
 *
 *   node examples/demo.mjs        (after `pnpm build`; the README's first command does both)
 *
 * PORT (default 3000) and HOST (default localhost) choose where it listens. REDIS_URL, when
 * set, keeps channels, replay and the AI answers' run state in Redis instead of memory (then an
 * answer started on one demo process can be followed, resumed and stopped on another). One hub
 * serves both frameworks: the Express and the Fastify ticker show the same prices with the same
 * event ids.
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sse } from '@ssekit/fastify';
import express from 'express';
import Fastify from 'fastify';
import { createTokensApp } from './ai-tokens/express.mjs';
import { tokensRoutes } from './ai-tokens/fastify.mjs';
import { closeOnSignals, createExampleHub, listenAddress } from './hub.mjs';
import { createTickerApp } from './stock-ticker/express.mjs';
import { tickerRoutes } from './stock-ticker/fastify.mjs';
import { startPriceFeed } from './stock-ticker/prices.mjs';

const INDEX = fileURLToPath(new URL('./index.html', import.meta.url));
const MOUNTS = [
  '/express/stock-ticker',
  '/express/ai-tokens',
  '/fastify/stock-ticker',
  '/fastify/ai-tokens',
];

const hub = await createExampleHub();
const feed = startPriceFeed(hub);

// Express: the index page, and each example app mounted under its path.
const expressApp = express();
expressApp.get('/', (_req, res) => res.sendFile(INDEX));
expressApp.use('/express/stock-ticker', createTickerApp({ hub }));
expressApp.use('/express/ai-tokens', createTokensApp({ hub }));

/** The pages use relative URLs (`prices`), so each example lives under a path ending in `/`. */
function dispatch(fastifyHandler) {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (MOUNTS.includes(url.pathname)) {
      res.writeHead(308, { location: `${url.pathname}/${url.search}` }).end();
    } else if (url.pathname.startsWith('/fastify/')) {
      fastifyHandler(req, res);
    } else {
      expressApp(req, res);
    }
  };
}

// Fastify owns the server and hands it everything outside /fastify/ to Express.
const app = Fastify({
  forceCloseConnections: true,
  serverFactory: (handler) => createServer(dispatch(handler)),
});
await app.register(sse, { hub });
await app.register(tickerRoutes, { prefix: '/fastify/stock-ticker' });
await app.register(tokensRoutes, { prefix: '/fastify/ai-tokens', hub });

const { port, host } = listenAddress();
await app.listen({ port, host });
const shown = ['0.0.0.0', '::'].includes(host)
  ? 'localhost'
  : host.includes(':')
    ? `[${host}]`
    : host;
const store = hub.stats().store.kind;
console.log(
  `ssekit demo on http://${shown}:${app.server.address().port}/  (${store} store; Ctrl-C stops it)`,
);

closeOnSignals(async () => {
  feed.stop();
  // Ends every stream (ticker clients and answers in progress) and closes the store.
  await hub.close();
  await app.close();
});
