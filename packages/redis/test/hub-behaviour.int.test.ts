/** The hub behaviour suite the in-memory store runs, against the Redis store. */
import { redisStore } from '@ssekit/redis';
import { describeHubBehaviour, type RedisServer, startRedisServer } from '@ssekit/test-support';
import { afterAll, beforeAll } from 'vitest';

let server: RedisServer;
let histories = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

// Each store gets its own prefix: a separate history, as a separate in-memory store would be.
describeHubBehaviour('redis', async (limits) => {
  const store = redisStore({ url: server.url, prefix: `hub${++histories}:`, ...limits });
  return { store, cleanup: () => store.close() };
});
