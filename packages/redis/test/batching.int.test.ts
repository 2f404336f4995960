/**
 * Publishing in batches (append-batch.ts): what one tick publishes goes to Redis as one script
 * call, with the ids, order, trimming and per-append outcomes of the same appends one by one.
 */
import { ChannelClosedError, memoryStore, parseEventId } from '@ssekit/core/store';
import { type RedisStore, redisStore } from '@ssekit/redis';
import { type RedisServer, StoreRecorder, startRedisServer } from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { MAX_BATCH_EVENTS } from '../src/append-batch.js';

let server: RedisServer;
let admin: Redis;
const stores: RedisStore[] = [];
let prefixCount = 0;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

function open(options: Parameters<typeof redisStore>[0] = {}, prefix = `b${++prefixCount}:`) {
  const store = redisStore({ url: server.url, prefix, ...options });
  stores.push(store);
  return store;
}
const seqOf = (id: string): number => parseEventId(id)!.seq;

/** EVALSHA calls Redis ran since the last reset. */
async function scriptCalls(): Promise<number> {
  const stats = String(await admin.info('commandstats'));
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

it('sends what one tick publishes as one script call, with ids in call order across channels', async () => {
  const store = open();
  const prefix = store.keys.prefix;
  await store.append('warm', 'data: 0\n', undefined);
  await admin.call('CONFIG', 'RESETSTAT');
  const channels = ['a', 'b', 'a', 'c', 'c', 'a', 'b', 'a', 'c'];
  const ids = await Promise.all(
    channels.map((channel, i) => store.append(channel, `data: ${i}\n`, i % 2 ? 'tick' : undefined)),
  );
  expect(await scriptCalls()).toBe(1);
  expect(ids.map(seqOf)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // Each stream holds its events with the links to the channel's previous entry.
  const a = await admin.xrange(`${prefix}s:a`, '-', '+');
  expect(a.map(([id, fields]) => [id, fields])).toEqual([
    ['2-0', ['b', 'data: 0\n', 't', a[0]![1][3], 'p', '0']],
    ['4-0', ['b', 'data: 2\n', 't', a[0]![1][3], 'p', '2']],
    ['7-0', ['b', 'data: 5\n', 't', a[0]![1][3], 'p', '4', 'e', 'tick']],
    ['9-0', ['b', 'data: 7\n', 't', a[0]![1][3], 'p', '7', 'e', 'tick']],
  ]);
  expect(await admin.hget(`${prefix}m:c`, 'l')).toBe('10');
});

it('packs each event by its UTF-8 bytes: multibyte text, empty and odd event types come back exactly as in memory', async () => {
  const redis = open();
  const memory = memoryStore();
  const texts = ['é', '日本語', '🙂🙂', '\ud800', 'a,b;c', '', '%d+', 'x'.repeat(300)];
  const appends = texts.flatMap((text, i) => [
    { channel: 'u', body: `data: ${text}\n`, event: i % 3 === 0 ? undefined : `${text}ev` },
    { channel: 'v', body: `data: ${i}\n`, event: i % 2 ? '' : undefined },
  ]);
  // Through the store's own API (the hub never sends these): lone surrogates at the edges of
  // pieces that meet in the packed argument, a type's end and a body's start, two bodies.
  appends.splice(
    4,
    0,
    { channel: 'u', body: '\udc00data: edge\n\ud800', event: 'x\ud800' },
    { channel: 'u', body: '\udc00data: next\n', event: undefined },
  );
  // One tick: one packed batch.
  const ids = await Promise.all(appends.map((a) => redis.append(a.channel, a.body, a.event)));
  expect(ids.map(seqOf)).toEqual(appends.map((_, i) => i + 1));
  for (const a of appends) await memory.append(a.channel, a.body, a.event);
  for (const channel of ['u', 'v']) {
    const fromRedis = await redis.readAfter([channel], `${redis.stats().epoch}-0`);
    const fromMemory = await memory.readAfter([channel], `${memory.stats().epoch}-0`);
    const frames = (events: typeof fromRedis.events): string[] =>
      events.map((e) => e.frame.toString().replace(/^id: [^\n]*\n/, ''));
    expect(frames(fromRedis.events)).toEqual(frames(fromMemory.events));
    // (As UTF-8: Redis keeps bytes, so a lone surrogate in a type comes back as U+FFFD.)
    const types = (events: typeof fromRedis.events) =>
      events.map((e) => (e.event === undefined ? undefined : Buffer.from(e.event).toString()));
    expect(types(fromRedis.events)).toEqual(types(fromMemory.events));
  }
  await memory.close();
});

it('splits a large tick into bounded script calls, still in order', async () => {
  const store = open();
  await store.append('warm', 'data: 0\n', undefined);
  await admin.call('CONFIG', 'RESETSTAT');
  const count = 2 * MAX_BATCH_EVENTS + 5;
  const ids = await Promise.all(
    Array.from({ length: count }, (_, i) => store.append(`c${i % 3}`, `data: ${i}\n`, undefined)),
  );
  expect(await scriptCalls()).toBe(3);
  expect(ids.map(seqOf)).toEqual(Array.from({ length: count }, (_, i) => i + 2));
});

it('delivers a batch over several channels to a blocked reader in id order, exactly once', async () => {
  const publisher = open();
  const subscriber = open({}, publisher.keys.prefix);
  const seen: number[] = [];
  const recorder = new StoreRecorder();
  const listener = {
    event: (e: Parameters<StoreRecorder['event']>[0]) => {
      seen.push(e.seq);
      recorder.event(e);
    },
    closed: () => recorder.closed(),
  };
  await subscriber.subscribe('x', listener);
  await subscriber.subscribe('y', listener);
  // Let the reader block: a blocked XREAD is answered with the one stream that woke it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const ids = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      publisher.append(i % 3 ? 'x' : 'y', 'data: .\n', undefined),
    ),
  );
  await recorder.until(() => recorder.events.length === 30, 'all thirty');
  expect(seen).toEqual(ids.map(seqOf));
});

it('trims exactly inside a batch: the same events, bytes and gaps as in memory', async () => {
  const limits = { maxEvents: 4, maxBytes: 300 };
  const redis = open(limits);
  const memory = memoryStore(limits);
  const bodies = Array.from(
    { length: 24 },
    (_, i) => `data: ${'x'.repeat(i % 5 === 0 ? 120 : 10 + i)}\n`,
  );
  const channelOf = (i: number): string => (i % 4 === 3 ? 'b' : 'a');
  await Promise.all(bodies.map((body, i) => redis.append(channelOf(i), body, undefined)));
  for (const [i, body] of bodies.entries()) await memory.append(channelOf(i), body, undefined);
  for (const channel of ['a', 'b']) {
    const fromRedis = await redis.readAfter([channel], `${redis.stats().epoch}-1`);
    const fromMemory = await memory.readAfter([channel], `${memory.stats().epoch}-1`);
    expect(fromRedis.events.map((e) => e.seq)).toEqual(fromMemory.events.map((e) => e.seq));
    expect(fromRedis.events.map((e) => e.frame.length)).toEqual(
      fromMemory.events.map((e) => e.frame.length),
    );
    expect(fromRedis.gap?.reason).toBe(fromMemory.gap?.reason);
    expect(fromRedis.gap?.channels?.[channel]?.reason).toBe('evicted');
    const held = fromRedis.events.reduce((sum, e) => sum + e.frame.length, 0);
    expect(Number(await admin.hget(`${redis.keys.prefix}m:${channel}`, 'b'))).toBe(held);
  }
  await memory.close();
});

it('rejects only the appends to a closed channel in the middle of a batch; the others are stored', async () => {
  const store = open();
  await store.closeChannel('shut');
  const settled = await Promise.allSettled(
    ['a', 'shut', 'b', 'shut', 'a'].map((channel, i) =>
      store.append(channel, `data: ${i}\n`, undefined),
    ),
  );
  expect(settled.map((s) => s.status)).toEqual([
    'fulfilled',
    'rejected',
    'fulfilled',
    'rejected',
    'fulfilled',
  ]);
  for (const s of settled)
    if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(ChannelClosedError);
  // A refused append takes no seq: the close marker had 1.
  const ids = settled.flatMap((s) => (s.status === 'fulfilled' ? [seqOf(s.value)] : []));
  expect(ids).toEqual([2, 3, 4]);
  expect(await admin.xlen(`${store.keys.prefix}s:shut`)).toBe(1);
});

it('fails only the append whose commands Redis refuses; the others are stored', async () => {
  const store = open();
  // Not a stream: XLEN and XADD on it answer WRONGTYPE.
  await admin.set(`${store.keys.prefix}s:bad`, 'a string');
  const settled = await Promise.allSettled(
    ['a', 'bad', 'a'].map((channel, i) => store.append(channel, `data: ${i}\n`, undefined)),
  );
  expect(settled[0]!.status).toBe('fulfilled');
  expect(settled[2]!.status).toBe('fulfilled');
  expect(settled[1]!.status).toBe('rejected');
  const reason = (settled[1] as PromiseRejectedResult).reason as Error;
  expect(reason.name).toBe('ReplyError');
  expect(reason.message).toMatch(/WRONGTYPE/);
  expect(await admin.xlen(`${store.keys.prefix}s:a`)).toBe(2);
  expect(store.stats().status).toBe('ready');
});

it('sends a pending publish before a command made after it: a close in the same tick comes second', async () => {
  const store = open();
  const published = store.append('a', 'data: last\n', undefined);
  const closed = store.closeChannel('a');
  await expect(published).resolves.toMatch(/-1$/);
  await closed;
  const entries = await admin.xrange(`${store.keys.prefix}s:a`, '-', '+');
  expect(entries.map(([id]) => id)).toEqual(['1-0', '2-0']);
});
