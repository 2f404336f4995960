/**
 * The OpenTelemetry SDK with a Prometheus exporter, registered as the global MeterProvider. Load
 * it before creating the hub: the hub takes the global meter when it is created (without an SDK
 * it makes no instruments at all, so metrics cost nothing).
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * Registers the SDK. Returns the `/metrics` handler (a plain `(req, res)` for node:http, which
 * Express takes as is; Fastify hands it `request.raw` / `reply.raw`) and `shutdown()`.
 */
export function startMetrics() {
  // No server of its own: the app serves /metrics on its port.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  return {
    /** @type {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void} */
    handler: (req, res) => exporter.getMetricsRequestHandler(req, res),
    async shutdown() {
      await provider.shutdown();
      metrics.disable();
    },
  };
}
