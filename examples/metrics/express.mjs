/**
 * Operating ssekit on Express: Prometheus `/metrics` (OpenTelemetry), a `/healthz` readiness
 * route, a rate-limited logger, and a SIGTERM that drains the hub before the server closes.
 *
 *   node examples/metrics/express.mjs      (after `pnpm build`; PORT, HOST, REDIS_URL)
 *   curl -N localhost:3000/events/lobby    # a client
 *   curl -X POST -H 'content-type: application/json' -d '{"hi":1}' localhost:3000/publish/lobby
 *   curl localhost:3000/metrics            # ssekit_streams_open, ssekit_events_published_total, ...
 */
import { channel, sse } from '@ssekit/express';
import express from 'express';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { startMetrics } from './otel.mjs';

/**
 * @param {{ hub: import('@ssekit/core').Hub, metrics: (req: any, res: any) => void,
 *   stream?: import('@ssekit/express').SseOptions }} options
 * @returns {{ app: import('express').Express, events: import('@ssekit/express').SseAppMiddleware }}
 */
export function createMetricsApp({ hub, metrics, stream = {} }) {
  const app = express();
  // drainMs: events.close() drains the hub over 10 s (clients resume on other instances).
  const events = sse({ hub, drainMs: 10_000, logger: console, ...stream });
  app.use(events);
  app.get(
    '/events/:room',
    channel((req) => `room:${req.params.room}`),
  );
  app.post('/publish/:room', express.json(), async (req, res, next) => {
    try {
      res.json({ id: await hub.publish(`room:${req.params.room}`, req.body) });
    } catch (error) {
      next(error);
    }
  });
  // Readiness: 503 while draining, closed, or when the store (Redis) is not ready.
  app.get('/healthz', (_req, res) => {
    const health = hub.health();
    res.status(health.ready ? 200 : 503).json(health);
  });
  app.get('/metrics', metrics);
  return { app, events };
}

if (isMain(import.meta.url)) {
  const metrics = startMetrics(); // before the hub
  const hub = await createExampleHub();
  const { app, events } = createMetricsApp({ hub, metrics: metrics.handler });
  const { port, host } = listenAddress();
  const server = app.listen(port, host, () => {
    console.log(`Metrics example (Express) on http://${host}:${port}/metrics`);
  });
  // The SIGTERM recipe: drain (readiness turns 503, streams move away), then close.
  closeOnSignals(async () => {
    await events.close();
    server.close();
    await hub.close();
    await metrics.shutdown();
  });
}
