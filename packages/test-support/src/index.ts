/**
 * @ssekit/test-support: what every package's tests share. Private, never built or shipped:
 * tests load these sources through vitest's alias and tsconfig.json's `paths`.
 *
 * - waits: `waitUntil(predicate, what, ms)`, re-checked on `Changes` (the one wait every helper uses)
 * - clients: `watch()` (the one EventSource recorder), `rawGet()` (the one raw HTTP client)
 * - servers: `listen()`, `listenFastify()`, `startSseServer()`, `startCoreServer()`, `startRedisServer()`
 * - suites and recorders: `describeHubBehaviour()`, `StoreRecorder`, `delegatingStore()`
 * - small tools: `deferred()`, `AsyncQueue`, `TextWatch`
 *
 * Subpaths with heavy imports: `@ssekit/test-support/express` (Express 5 and 4) and
 * `@ssekit/test-support/type-check` (the TypeScript compiler).
 */
export { AsyncQueue, queuedSource } from './async-queue.js';
export { type CoreServer, startCoreServer, startRunServer } from './core-server.js';
export { type Deferred, deferred } from './deferred.js';
export { delegatingStore } from './delegating-store.js';
export {
  EventRecorder,
  type ReceivedEvent,
  utf8Header,
  type WatchInit,
  watch,
} from './event-source.js';
export { describeHubBehaviour, type StoreFactory } from './hub-behaviour.js';
export { type Listening, listen, listenFastify, type Running, trackSockets } from './listen.js';
export {
  type Cleanup,
  cleanupAfterEach,
  redisServerPerFile,
  redisServerWithAdmin,
} from './per-file.js';
export { type RawClient, type RawGetOptions, type RawHead, rawGet } from './raw-client.js';
export {
  REDIS_SERVER,
  type RedisServer,
  type RedisServerOptions,
  startRedisServer,
} from './redis-server.js';
export { runClaim } from './run-claim.js';
export { type Handler, type ServedStream, startSseServer, type TestServer } from './sse-server.js';
export { StoreRecorder } from './store-recorder.js';
export { TextWatch } from './text-watch.js';
export {
  dropAtRandom,
  messageText,
  type TokenOptions,
  terminalEvent,
  tokens,
  tokenText,
} from './tokens.js';
export { recordUnhandledRejections } from './unhandled.js';
export { Changes, type WaitOptions, waitUntil } from './wait.js';
