/**
 * Redis failing while a batch of publishes is in flight: every append of the batch rejects with
 * RedisUnavailableError, and the batch (one atomic script) was stored whole or not at all; if it
 * was stored, every reader delivers all of it, in order.
 */
import { type RedisStore, RedisUnavailableError, redisStore } from '@ssekit/redis';
import { cleanupAfterEach, redisServerWithAdmin, StoreRecorder } from '@ssekit/test-support';
import { expect, it } from 'vitest';
import { startTcpProxy } from './tcp-proxy.js';

const cleanups = cleanupAfterEach();

function redisServer(persistence: boolean) {
  return redisServerWithAdmin(cleanups, { persistence });
}

function open(url: string, options: Parameters<typeof redisStore>[0] = {}): RedisStore {
  const store = redisStore({ url, prefix: 'bf:', retryDelay: () => 50, ...options });
  cleanups.push(() => store.close());
  return store;
}

/** Ten appends over two channels in one tick: one batch. */
function publishBatch(store: RedisStore): Promise<PromiseSettledResult<string>[]> {
  return Promise.allSettled(
    Array.from({ length: 10 }, (_, i) =>
      store.append(i % 2 ? 'b' : 'a', `data: ${i}\n`, undefined),
    ),
  );
}

function expectAllUnavailable(settled: PromiseSettledResult<string>[]): void {
  for (const s of settled) {
    expect(s.status).toBe('rejected');
    expect((s as PromiseRejectedResult).reason).toBeInstanceOf(RedisUnavailableError);
  }
}

async function subscribed(store: RedisStore): Promise<StoreRecorder> {
  const recorder = new StoreRecorder();
  await store.subscribe('a', recorder);
  await store.subscribe('b', recorder);
  return recorder;
}

it('a hang longer than commandTimeout: the whole batch rejects, then runs whole and is delivered in order', async () => {
  const { server } = await redisServer(false);
  const publisher = open(server.url, { commandTimeout: 300 });
  const subscriber = open(server.url);
  const recorder = await subscribed(subscriber);
  await publisher.append('a', 'data: before\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'the first event');

  server.pause();
  const settled = await publishBatch(publisher);
  expectAllUnavailable(settled);
  server.resume();
  // The script reached Redis before it hung: it runs when Redis resumes, all of it.
  await recorder.until(() => recorder.events.length === 11, 'the whole batch');
  const seqs = recorder.events.map((e) => e.seq);
  expect(seqs).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  expect(recorder.events.slice(1).map((e) => e.frame.toString().split('\n')[1])).toEqual(
    Array.from({ length: 10 }, (_, i) => `data: ${i}`),
  );
});

it('the connection drops after Redis ran the batch: every append rejects, the batch is stored whole and delivered', async () => {
  const { server, admin } = await redisServer(false);
  const proxy = await startTcpProxy(server.port);
  cleanups.push(() => proxy.close());
  const publisher = open(proxy.url);
  const subscriber = open(server.url);
  const recorder = await subscribed(subscriber);
  await publisher.append('a', 'data: before\n', undefined);

  proxy.hold(); // Redis gets the script and runs it; its answer never comes back.
  const batch = publishBatch(publisher);
  await recorder.until(() => recorder.events.length === 11, 'the whole batch, delivered');
  proxy.pointTo(server.port); // drops the publisher's connection
  expectAllUnavailable(await batch);
  expect(recorder.events.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  expect((await admin.xlen('bf:s:a')) + (await admin.xlen('bf:s:b'))).toBe(11);
});

it('Redis killed with a batch in flight: every append rejects and nothing of the batch is stored', async () => {
  const { server, admin } = await redisServer(true);
  const publisher = open(server.url, { commandTimeout: 5_000 });
  await publisher.append('a', 'data: before\n', undefined);

  server.pause(); // the script waits, unread, in Redis's socket buffer
  const batch = publishBatch(publisher);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await server.kill();
  expectAllUnavailable(await batch);
  await server.start();
  await expect.poll(() => admin.get('bf:seq'), { timeout: 5_000 }).toBe('1');
  expect(await admin.xlen('bf:s:a')).toBe(1);
  expect(await admin.xlen('bf:s:b')).toBe(0);
});
