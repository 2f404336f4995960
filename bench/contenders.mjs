/** The contenders, in the order. `storm`: it can resume from Last-Event-ID at all. */
export const CONTENDERS = [
  { key: 'raw', label: 'raw node:http (naive)', file: 'raw-naive.mjs', storm: false },
  { key: 'ssekit-express', label: '@ssekit/express', file: 'ssekit-express.mjs', storm: true },
  { key: 'ssekit-fastify', label: '@ssekit/fastify', file: 'ssekit-fastify.mjs', storm: true },
  { key: 'better-sse', label: 'better-sse', file: 'better-sse.mjs', storm: false },
  { key: 'fastify-sse', label: '@fastify/sse', file: 'fastify-sse.mjs', storm: true },
  { key: 'fastify-sse-v2', label: 'fastify-sse-v2', file: 'fastify-sse-v2.mjs', storm: false },
  {
    key: 'raw-coalesce',
    label: 'raw node:http, per-tick coalescing',
    file: 'raw-coalesce.mjs',
    storm: false,
  },
  // The Express floor: what @ssekit/express adds over Express is its heap minus this one's.
  {
    key: 'raw-express-coalesce',
    label: 'bare Express 5, per-tick coalescing',
    file: 'raw-express-coalesce.mjs',
    storm: false,
  },
  // Not in the list: ssekit without a framework, to tell ssekit's cost from Express's or Fastify's.
  {
    key: 'ssekit-core',
    label: '@ssekit/core on node:http (diagnostic)',
    file: 'ssekit-core.mjs',
    storm: true,
  },
  // Not in the list: ssekit-core with an OpenTelemetry SDK installed, to price the metrics.
  {
    key: 'ssekit-core-otel',
    label: '@ssekit/core + OpenTelemetry SDK (diagnostic)',
    file: 'ssekit-core-otel.mjs',
    storm: true,
  },
];
