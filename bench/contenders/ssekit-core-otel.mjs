/**
 * (diagnostic) `ssekit-core` with an OpenTelemetry SDK installed: a global MeterProvider whose
 * reader collects every second (a Prometheus scrape every 15 s does less). Compared with
 * `ssekit-core`, it prices ssekit's metrics per delivery (issue 15: at most 5% CPU on the burst).
 */
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { createHub, SseStream } from '@ssekit/core';
import { createHubControl } from './common.mjs';
import { serveNodeHttp } from './serve.mjs';

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1000 });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
// Keep memory flat over a long run: only the latest collection is of interest.
setInterval(() => exporter.reset(), 5000).unref();

// Created after the SDK: the hub takes the global meter (the instruments are live).
const hub = createHub();

const control = createHubControl(hub, {
  name: 'ssekit-core-otel',
  variant: '@ssekit/core as ssekit-core, with an OpenTelemetry SDK MeterProvider installed',
});

serveNodeHttp(control, (req, res) => {
  const stream = new SseStream(res, {}, { request: req, hub });
  hub.subscribe(stream, 'bcast').catch(() => res.destroy());
});
