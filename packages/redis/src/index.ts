export { type ConnectionState, RedisUnavailableError } from './connection.js';
export { DEFAULT_PREFIX, type RedisStoreOptions } from './options.js';
export { RedisStore, type RedisStoreStats, redisStore } from './redis-store.js';
