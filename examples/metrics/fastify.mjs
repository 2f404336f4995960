/**
 * Operating ssekit on Fastify: Prometheus `/metrics` (OpenTelemetry), a `/healthz` readiness
 * route, errors through Fastify's logger (rate-limited), and `app.close()` draining the hub first
 * (`drainMs`, awaited in the plugin's `preClose`).
 *
 *   node examples/metrics/fastify.mjs      (after `pnpm build`; PORT, HOST, REDIS_URL)
 */
import { channel, sse } from '@ssekit/fastify';
import Fastify from 'fastify';
import { closeOnSignals, createExampleHub, isMain, listenAddress } from '../hub.mjs';
import { startMetrics } from './otel.mjs';

/**
 * @param {{ hub: import('@ssekit/core').Hub, metrics: (req: any, res: any) => void,
 *   stream?: import('@ssekit/fastify').SseOptions }} options
 */
export async function createMetricsApp({ hub, metrics, stream = {} }) {
  // While it closes, Fastify answers 503 (which EventSource takes as final) unless told not to;
  // the draining hub then answers newcomers 200 with a retry: hint, so they come back elsewhere.
  const app = Fastify({ return503OnClosing: false, forceCloseConnections: true });
  await app.register(sse, { hub, drainMs: 10_000, ...stream });
  app.get(
    '/events/:room',
    channel((request) => `room:${request.params.room}`),
  );
  app.post('/publish/:room', async (request) => ({
    id: await hub.publish(`room:${request.params.room}`, request.body),
  }));
  app.get('/healthz', async (_request, reply) => {
    const health = hub.health();
    return reply.code(health.ready ? 200 : 503).send(health);
  });
  app.get('/metrics', (request, reply) => {
    reply.hijack();
    metrics(request.raw, reply.raw);
  });
  return app;
}

if (isMain(import.meta.url)) {
  const metrics = startMetrics(); // before the hub
  const hub = await createExampleHub();
  const app = await createMetricsApp({ hub, metrics: metrics.handler });
  const { port, host } = listenAddress();
  await app.listen({ port, host });
  console.log(`Metrics example (Fastify) on http://${host}:${port}/metrics`);
  // app.close() drains the hub (drainMs), then ends what is left and closes the server.
  closeOnSignals(async () => {
    await app.close();
    await hub.close();
    await metrics.shutdown();
  });
}
