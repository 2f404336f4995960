export { RedisUnavailableError } from './command-runner.js';
export type { ConnectionState } from './connection.js';
export { DEFAULT_PREFIX, type RedisStoreOptions } from './options.js';
export { RedisStore, type RedisStoreStats, redisStore } from './redis-store.js';
