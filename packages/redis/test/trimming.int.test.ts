/** Trimming keeps Redis's memory bounded however much is published. */
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
});
afterAll(async () => {
  await store?.close();
  admin.disconnect();
  await server.stop();
});

const CHANNELS = ['c0', 'c1', 'c2', 'c3'];
const MAX_EVENTS = 500;
const body = `data: ${JSON.stringify({ price: 123.45, symbol: 'ACME', note: 'x'.repeat(60) })}\n`;

async function publish(count: number, from: number): Promise<void> {
  // Bounded concurrency: a few hundred scripts in flight at a time.
  for (let i = from; i < from + count; i += 250) {
    const batch: Promise<string>[] = [];
    for (let j = i; j < Math.min(i + 250, from + count); j++)
      batch.push(store.append(CHANNELS[j % 4]!, body, undefined));
    await Promise.all(batch);
  }
}

async function usedMemory(): Promise<number> {
  const info = String(await admin.call('INFO', 'memory'));
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

it('holds at most maxEvents per channel and flat memory while 100,000 events are published', async () => {
  store = redisStore({ url: server.url, prefix: 'trim:', maxEvents: MAX_EVENTS });
  await publish(20_000, 0);
  const memoryAt20k = await usedMemory();
  const streamBytesAt20k = Number(await admin.call('MEMORY', 'USAGE', 'trim:s:c0'));
  await publish(80_000, 20_000);
  expect(await admin.get('trim:seq')).toBe('100000');
  for (const channel of CHANNELS) {
    expect(await admin.xlen(`trim:s:${channel}`)).toBe(MAX_EVENTS);
  }
  const streamBytes = Number(await admin.call('MEMORY', 'USAGE', 'trim:s:c0'));
  // 500 entries of ~100 bytes: the stream stays the size it had at 20k, within a few nodes' slack.
  expect(streamBytes).toBeLessThan(MAX_EVENTS * 400);
  expect(streamBytes).toBeLessThan(streamBytesAt20k * 1.5);
  expect((await usedMemory()) - memoryAt20k).toBeLessThan(2 * 1024 * 1024);
  // The replay side agrees: exactly the newest 500 of the channel, and older ids are evicted.
  const { events, gap } = await store.readAfter(['c0'], `${store.stats().epoch}-1`);
  expect(events).toHaveLength(MAX_EVENTS);
  expect(events.at(-1)!.seq).toBe(99_997);
  expect(gap?.reason).toBe('evicted');
});

it('bounds by bytes as well, tracking the total in the channel meta', async () => {
  await store.close();
  store = redisStore({
    url: server.url,
    prefix: 'trimbytes:',
    maxEvents: 100_000,
    maxBytes: 16 * 1024,
  });
  await publish(20_000, 0);
  const held = await store.readAfter(['c1'], `${store.stats().epoch}-1`);
  const bytes = held.events.reduce((sum, e) => sum + e.frame.length, 0);
  expect(bytes).toBeLessThanOrEqual(16 * 1024);
  expect(bytes).toBeGreaterThan(16 * 1024 - 200);
  expect(Number(await admin.hget('trimbytes:m:c1', 'b'))).toBe(bytes);
  expect(await admin.xlen('trimbytes:s:c1')).toBe(held.events.length);
});
