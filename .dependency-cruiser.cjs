// Dependency rules for ssekit (issue 14, "Enforce it"). Runs in `pnpm lint` as
//   depcruise --config .dependency-cruiser.cjs packages/core/src packages/express/src packages/fastify/src packages/redis/src
// Paths are matched after resolution: `@ssekit/<name>` resolves through tsconfig.json's `paths`
// to packages/<name>/src (or, without them, through node_modules to packages/<name>/dist), and
// npm packages resolve into node_modules (pnpm: node_modules/.pnpm/<pkg>@<v>/node_modules/<pkg>/).
// An import that cannot be resolved keeps its bare name, so the external rules match that too.

/** Any path of another ssekit workspace package than core (source, build or a node_modules link). */
const otherSsekitPackage =
  '^packages/(?!core/)[^/]+/|(^|/)node_modules/@ssekit/(?!core/)|^@ssekit/(?!core$)';
/** The web frameworks and the Redis client, as resolved or as a bare (unresolved) name. */
const frameworkOrClient =
  '(^|/)node_modules/(express|fastify|fastify-plugin|@fastify/[^/]+|ioredis)/|^(express|fastify|fastify-plugin|ioredis)$|^@fastify/';
const expressPackage = '^packages/express/|(^|/)node_modules/@ssekit/express/|^@ssekit/express$';
const fastifyPackage = '^packages/fastify/|(^|/)node_modules/@ssekit/fastify/|^@ssekit/fastify$';
const redisPackage = '^packages/redis/|(^|/)node_modules/@ssekit/redis/|^@ssekit/redis$';

/** Core's layer folders. */
const layer = (name) => `^packages/core/src/${name}/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles in packages/*/src. Type-only imports count too (tsPreCompilationDeps ' +
        'below): a cycle of types still means two modules that cannot be understood apart.',
      from: {
        path: '^packages/[^/]+/src/',
      },
      to: { circular: true },
    },
    {
      name: 'core-not-to-other-packages',
      severity: 'error',
      comment:
        '@ssekit/core is the bottom of the stack: it imports no other @ssekit package, no web ' +
        'framework and no Redis client.',
      from: { path: '^packages/core/src/' },
      to: { path: [otherSsekitPackage, frameworkOrClient] },
    },
    {
      name: 'express-not-to-fastify-or-redis',
      severity: 'error',
      comment: 'An adapter does not know the other adapter or a store package.',
      from: { path: '^packages/express/src/' },
      to: { path: [fastifyPackage, redisPackage] },
    },
    {
      name: 'fastify-not-to-express-or-redis',
      severity: 'error',
      comment: 'An adapter does not know the other adapter or a store package.',
      from: { path: '^packages/fastify/src/' },
      to: { path: [expressPackage, redisPackage] },
    },
    {
      name: 'redis-not-to-adapters',
      severity: 'error',
      comment: 'A store package does not know the web adapters.',
      from: { path: '^packages/redis/src/' },
      to: { path: [expressPackage, fastifyPackage] },
    },
    {
      name: 'not-to-test-support',
      severity: 'error',
      comment:
        'Shipped packages never import @ssekit/test-support (private, unbuilt: for tests only).',
      from: { path: '^packages/[^/]+/src/', pathNot: '^packages/test-support/' },
      to: {
        path: '^packages/test-support/|(^|/)node_modules/@ssekit/test-support/|^@ssekit/test-support',
      },
    },
    {
      name: 'src-not-to-test',
      severity: 'error',
      comment: 'Shipped code never imports test code (a test/ folder anywhere in the repository).',
      from: { path: '^packages/[^/]+/src/' },
      to: { path: '(^|/)(test|tests|__tests__)/', pathNot: '(^|/)node_modules/' },
    },

    // Core layers: wire <- stream <- hub <- session, and store may use wire.
    // Each layer may import only the layers listed as allowed below it.
    {
      name: 'layer-wire-imports-no-layer',
      severity: 'error',
      comment: 'core/src/wire (encode, event ids, Last-Event-ID) imports no other layer.',
      from: { path: layer('wire') },
      to: { path: '^packages/core/src/(stream|hub|store|session)/' },
    },
    {
      name: 'layer-stream-only-wire',
      severity: 'error',
      comment:
        'core/src/stream (the connection) knows nothing of the hub or sessions; it may use wire.',
      from: { path: layer('stream') },
      to: { path: '^packages/core/src/(hub|store|session)/' },
    },
    {
      name: 'layer-store-only-wire',
      severity: 'error',
      comment: 'core/src/store (contract, memory store, frame layout) may use wire only.',
      from: { path: layer('store') },
      to: { path: '^packages/core/src/(stream|hub|session)/' },
    },
    {
      name: 'layer-hub-not-to-session',
      severity: 'error',
      comment:
        'core/src/hub (publish, fan-out, subscriptions) may use wire, stream and store, never session.',
      from: { path: layer('hub') },
      to: { path: '^packages/core/src/session/' },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '(^|/)dist/' },
    // Count `import type` and type-only re-exports as dependencies, so a cycle made of types
    // is still a cycle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
