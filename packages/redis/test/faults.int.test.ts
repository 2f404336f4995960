/** Redis going away is a fault, not a crash: clear errors, no queue, reconnect, resume. */
import { parseEventId } from '@ssekit/core';
import { type RedisStore, RedisUnavailableError, redisStore } from '@ssekit/redis';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../../test/redis/redis-server.js';
import { Recorder } from './support/recorder.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function redisServer(persistence = true): Promise<{ server: RedisServer; admin: Redis }> {
  const server = await startRedisServer({ persistence });
  const admin = new Redis(server.url, { retryStrategy: () => 50 });
  admin.on('error', () => {});
  cleanups.push(() => server.stop());
  cleanups.push(() => admin.disconnect());
  return { server, admin };
}

function open(url: string, options: Parameters<typeof redisStore>[0] = {}): RedisStore {
  const store = redisStore({ url, prefix: 'f:', retryDelay: () => 50, ...options });
  cleanups.push(() => store.close());
  return store;
}

it('rejects at once, with a clear error, when Redis is not there at startup', async () => {
  const { server } = await redisServer(false);
  await server.kill();
  const store = open(server.url);
  const error = await store.append('a', 'data: x\n', undefined).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RedisUnavailableError);
  expect((error as Error).message).toMatch(/^ssekit\/redis: Redis is unavailable.*cannot publish$/);
  await expect(store.readAfter(['a'], undefined)).rejects.toBeInstanceOf(RedisUnavailableError);
  // It keeps trying, and works once Redis is up.
  await server.start();
  await expect.poll(() => store.stats().status, { timeout: 5000 }).toBe('ready');
  expect(parseEventId(await store.append('a', 'data: x\n', undefined))?.seq).toBe(1);
});

it('fails publishes fast during an outage, queues nothing, and carries on after the restart', async () => {
  const { server } = await redisServer(true);
  const publisher = open(server.url);
  const subscriber = open(server.url);
  const recorder = new Recorder();
  await subscriber.subscribe('live', recorder);
  const before = await publisher.append('live', 'data: 1\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'first event');

  // Publishes in flight when Redis dies settle too: each either made it or says Redis is gone.
  const inFlight = Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => publisher.append('live', `data: f${i}\n`, undefined)),
  );
  await server.kill();
  const settled = await inFlight;
  const accepted = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  for (const s of settled)
    if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(RedisUnavailableError);

  await expect.poll(() => publisher.stats().status).toBe('reconnecting');
  await expect(publisher.append('live', 'data: 2\n', undefined)).rejects.toThrow(
    /Redis is unavailable, status reconnecting.*cannot publish/,
  );
  expect(publisher.stats().lastError).toBeTruthy();

  await server.start();
  await expect.poll(() => publisher.stats().status, { timeout: 5000 }).toBe('ready');
  const after = await publisher.append('live', 'data: 3\n', undefined);
  // Everything Redis acknowledged (persisted with appendfsync always) arrives, once, in order.
  // A publish whose reply was lost in the kill may have been stored too: it was rejected as
  // "unavailable" (outcome unknown), and if stored it arrives like any other event.
  await recorder.until(() => recorder.ids().includes(after), 'the event after the restart');
  const got = recorder.ids();
  const seqs = got.map((id) => parseEventId(id)!.seq);
  expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
  expect(got.filter((id) => [before, ...accepted, after].includes(id))).toEqual([
    before,
    ...accepted,
    after,
  ]);
  expect(got.length - accepted.length - 2).toBeLessThanOrEqual(settled.length - accepted.length);
  expect(recorder.closes).toBe(0);
  expect(subscriber.stats()).toMatchObject({
    readerStatus: 'ready',
    readerPosition: after,
    historyChanges: 0,
  });
});

it('resumes reading exactly where it stopped when its own connection drops', async () => {
  const { server, admin } = await redisServer(false);
  const publisher = open(server.url);
  const subscriber = open(server.url, { retryDelay: () => 300 });
  const recorder = new Recorder();
  await subscriber.subscribe('r', recorder);
  const first = await publisher.append('r', 'data: 0\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'first event');
  const reader = /id=(\d+) [^\n]*name=ssekit-reader/.exec(
    String(await admin.call('CLIENT', 'LIST')),
  )!;
  await admin.call('CLIENT', 'KILL', 'ID', reader[1]!);
  const missed: string[] = [];
  for (let i = 1; i <= 5; i++) missed.push(await publisher.append('r', `data: ${i}\n`, undefined));
  await recorder.until(
    () => recorder.events.length === 6,
    'the events published while it was away',
  );
  expect(recorder.ids()).toEqual([first, ...missed]);
  expect(recorder.closes).toBe(0);
});

it('starts a new epoch when the counter goes back, so reissued ids are never mistaken', async () => {
  const { admin, server } = await redisServer(false);
  const store = open(server.url);
  const recorder = new Recorder();
  await store.subscribe('w', recorder);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await store.append('w', `data: ${i}\n`, undefined));
  await recorder.until(() => recorder.events.length === 5, 'five events');
  // As if Redis restarted from a snapshot taken after the second event (on another channel).
  await admin.set('f:seq', '2');
  const next = await store.append('v', 'data: again\n', undefined);
  const [old, renewed] = [parseEventId(ids[4]!)!, parseEventId(next)!];
  expect(renewed.epoch).not.toBe(old.epoch);
  expect(renewed.seq).toBe(3);
  // A channel whose entries are ahead of the counter still takes new events, after them.
  expect(parseEventId(await store.append('w', 'data: more\n', undefined))!.seq).toBe(6);
  await recorder.until(() => recorder.closes === 1, 'local streams ended');
  const replay = await store.readAfter(['w'], ids[4]);
  expect(replay.gap?.reason).toBe('stale');
  expect(store.stats().historyChanges).toBe(1);
});

it('notices, while reading, that Redis lost its data, and ends the local streams', async () => {
  const { server } = await redisServer(false);
  const store = open(server.url);
  const recorder = new Recorder();
  await store.subscribe('gone', recorder);
  const id = await store.append('gone', 'data: 1\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'first event');
  await server.kill();
  await server.start();
  await recorder.until(() => recorder.closes === 1, 'history loss noticed by the reader');
  expect(store.stats().historyChanges).toBe(1);
  // The reader may be back before the command connection is.
  await store.ready();
  const replay = await store.readAfter(['gone'], id);
  expect(replay).toMatchObject({ events: [], gap: { reason: 'stale', oldestId: null } });
});
