/** The stored frame is defined once (core), and Redis's byte accounting counts exactly its bytes. */
import { formatEventId, storedFrame, storedFrameBytes } from '@ssekit/core/store';
import { type RedisStore, redisStore } from '@ssekit/redis';
import { type RedisServer, startRedisServer } from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';

let server: RedisServer;
let admin: Redis;
let store: RedisStore;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
  store = redisStore({ url: server.url, prefix: 'frame:' });
});
afterAll(async () => {
  await store.close();
  admin.disconnect();
  await server.stop();
});

it('pins core, the Redis frame and the Lua byte count to the same number for a sample entry', async () => {
  // Multi-byte characters: the Lua count is in bytes, like Buffer lengths.
  const body = 'event: price\ndata: {"name":"Zoë","note":"€ 12 — ✓"}\n';
  const id = await store.append('prices', body, 'price');
  const expected = Buffer.from(`id: ${id}\n${body}\n`);
  expect(storedFrame(id, body)).toEqual(expected);
  expect(storedFrameBytes(Buffer.byteLength(id), Buffer.byteLength(body))).toBe(expected.length);
  // What the trimming script adds to (and later subtracts from) the channel's byte total.
  expect(Number(await admin.hget('frame:m:prices', 'b'))).toBe(expected.length);
  // The frame a process builds from the stream entry.
  const { events } = await store.readAfter(['prices'], formatEventId(store.stats().epoch!, 0));
  expect(events.map((e) => e.frame)).toEqual([expected]);
});
