/** Set-up every test file repeated: cleanups after each test, one redis-server per file. */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.js';

export type Cleanup = () => Promise<void> | void;

/** A list the calling file's tests push cleanups to; run newest first after each test. */
export function cleanupAfterEach(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}

/**
 * One redis-server for the calling test file: started before its first test, stopped after its
 * last. The returned object stands for it (use it inside tests, not at module load).
 */
export function redisServerPerFile(options?: RedisServerOptions): RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedisServer(options);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return new Proxy({} as RedisServer, {
    get(_, property) {
      if (!server) throw new Error('redisServerPerFile: used before its beforeAll ran');
      const value = server[property as keyof RedisServer];
      return typeof value === 'function' ? value.bind(server) : value;
    },
  });
}

/**
 * A redis-server of the calling test's own (it may kill and restart it) and an admin connection
 * that retries quietly while it is down; both go at the test's cleanup.
 */
export async function redisServerWithAdmin(
  cleanups: Cleanup[],
  options: RedisServerOptions = {},
): Promise<{ server: RedisServer; admin: Redis }> {
  const server = await startRedisServer(options);
  const admin = new Redis(server.url, { retryStrategy: () => 50 });
  admin.on('error', () => {});
  cleanups.push(() => server.stop());
  cleanups.push(() => admin.disconnect());
  return { server, admin };
}
