/**
 * A run's producer reserves its ids (packages/redis/src/runs/run-writer.ts): each token gets its id
 * where it is made and reaches that process's followers at once; the append that stores it under
 * that id follows. What that must never cost: a token twice or missing for a follower anywhere,
 * or a run that goes on after one of its tokens could not be stored.
 */
import { once } from 'node:events';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { ChannelClosedError, type Hub, runChannel } from '@ssekit/core';
import { type RedisStoreStats, redisStore } from '@ssekit/redis';
import {
  AsyncQueue,
  cleanupAfterEach,
  type EventRecorder,
  messageText,
  queuedSource,
  redisServerPerFile,
  startCoreServer,
  terminalEvent,
  watch,
} from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { runHubs } from './run-hubs.js';

const redis = redisServerPerFile();
const cleanups = cleanupAfterEach();

const { nextPrefix, hubOn, follower, follow } = runHubs(redis, cleanups, 'reserved');

/**
 * A loopback proxy in front of Redis that, once armed with a marker, holds everything the client
 * sends from the write that contains it on (Redis never sees it) until `release()`.
 */
async function holdingWrites(target: number) {
  let marker: string | undefined;
  let held: { upstream: Socket; chunks: Buffer[] } | undefined;
  let onHeld: (() => void) | undefined;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    open.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (marker && !held && chunk.toString('latin1').includes(marker)) {
        held = { upstream, chunks: [] };
        marker = undefined;
        onHeld?.();
      }
      if (held?.upstream === upstream) held.chunks.push(chunk);
      else upstream.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const socket of open) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Resolves once a write containing `text` is held. */
    arm(text: string): Promise<void> {
      marker = text;
      return new Promise((resolve) => {
        onHeld = resolve;
      });
    },
    release(): void {
      const was = held;
      held = undefined;
      if (was) for (const chunk of was.chunks) was.upstream.write(chunk);
    },
  };
}

const terminalOf = (client: EventRecorder) => terminalEvent(client.events);

/** A run produced on `a` from a queue (kept alive), a follower on `a`, and `t0` seen by it. */
async function producing(a: Hub, finalised = { count: 0 }) {
  const onA = await follower(a);
  const queue = new AsyncQueue<string | null>();
  const run = await a.startRun(queuedSource(queue, finalised), { keepAlive: true });
  const own = follow(onA, run.key);
  queue.push('t0 ');
  await own.until(() => messageText(own.events) === 't0 ', 't0 on A');
  return { queue, run, own };
}

/** Two processes on one prefix: a run produced on A (as `producing`), a follower server on B. */
async function producingWithB() {
  const prefix = nextPrefix();
  const a = hubOn(prefix);
  const onB = await follower(hubOn(prefix));
  return { a, onB, ...(await producing(a)) };
}

/** Another process's store on `prefix`, closed at the test's cleanup. */
function storeOn(prefix: string) {
  const store = redisStore({ url: redis.url, prefix });
  cleanups.push(() => store.close());
  return store;
}

describe('ids reserved by the producer', () => {
  it("a follower on the producing process gets a token while Redis can't answer (paused); a follower elsewhere gets it once stored", async () => {
    const { onB, queue, run, own } = await producingWithB();
    redis.pause();
    try {
      queue.push('t1 ');
      // Nothing can have been stored (or answered): it reached the follower as it was made.
      await own.until(() => messageText(own.events) === 't0 t1 ', 't1 on A, Redis paused', 2_000);
    } finally {
      redis.resume();
    }
    queue.push('t2 ');
    queue.push(null);
    expect(await run.ended).toBe('done');
    await own.until(() => terminalOf(own) !== undefined, 'done on A');
    const other = follow(onB, run.key);
    await other.until(() => terminalOf(other) !== undefined, 'done on B');
    for (const client of [own, other]) {
      expect(messageText(client.events)).toBe('t0 t1 t2 ');
      expect(terminalOf(client)?.type).toBe('done');
    }
    expect(own.ids()).toEqual(other.ids());
  });

  it('tokens the producer already delivered are stored together: two tokens made one after the other take one script call, and a follower elsewhere gets both once', async () => {
    const { a, onB, queue, run, own } = await producingWithB();
    const other = follow(onB, run.key);
    await other.until(() => messageText(other.events) === 't0 ', 't0 on B');
    const before = (a.stats().store as RedisStoreStats).appendCalls;
    // The source yields t2 a few microtasks after t1: without the wait, t1 goes alone.
    queue.push('t1 ');
    queue.push('t2 ');
    await own.until(() => messageText(own.events) === 't0 t1 t2 ', 't1 and t2 on A');
    await other.until(() => messageText(other.events) === 't0 t1 t2 ', 't1 and t2 on B');
    expect((a.stats().store as RedisStoreStats).appendCalls - before).toBe(1);
    expect(other.ids()).toEqual(own.ids());
  });

  it('a follower resuming elsewhere with the id of a token it got before that token was stored gets nothing twice, and everything after', async () => {
    const prefix = nextPrefix();
    const proxy = await holdingWrites(redis.port);
    const a = hubOn(prefix, proxy.url);
    const b = hubOn(prefix);
    const onB = await follower(b);
    const { queue, run, own } = await producing(a);
    const held = proxy.arm('MARK1');
    queue.push('MARK1 ');
    await held;
    await own.until(() => messageText(own.events) === 't0 MARK1 ', 'MARK1 on A, not stored');
    const lastId = own.ids().at(-1)!;
    own.close();
    // Its socket moved to B while MARK1's append is still held: B's replay can't have it.
    const other = follow(onB, run.key, lastId);
    await other.opened;
    proxy.release();
    queue.push('t2 ');
    queue.push(null);
    expect(await run.ended).toBe('done');
    await other.until(() => terminalOf(other) !== undefined, 'done on B');
    expect(messageText(other.events)).toBe('t2 ');
    expect(terminalOf(other)?.type).toBe('done');
  });

  it('a token Redis refuses (another process wrote to the run, as after a lapsed lease) ends the run at once with error, not when its source ends', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const writer = storeOn(prefix);
    const finalised = { count: 0 };
    const { queue, run, own } = await producing(a, finalised);
    await writer.append(runChannel(run.key), 'data: not the producer\n', undefined);
    queue.push('t1 ');
    // The source is never told to end: only the refused token can end the run.
    expect(await run.ended).toBe('error');
    expect(finalised.count).toBe(1);
    await own.until(() => terminalOf(own) !== undefined, 'the terminal event on A');
    expect(terminalOf(own)?.type).toBe('error');
  });

  it('a follower attached on the producing process right after the run started needs no Redis round trip for its first token', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const onA = await follower(a);
    const queue = new AsyncQueue<string | null>();
    // The claim is the only round trip: made before Redis pauses.
    const run = await a.startRun(queuedSource(queue, { count: 0 }), { keepAlive: true });
    redis.pause();
    try {
      const own = follow(onA, run.key);
      await own.until(() => own.opens === 1, 'the follower attached, Redis paused', 2_000);
      queue.push('t0 ');
      await own.until(() => messageText(own.events) === 't0 ', 't0 on A, Redis paused', 2_000);
    } finally {
      redis.resume();
    }
    queue.push(null);
    expect(await run.ended).toBe('done');
  });

  it("a subscriber with no Last-Event-ID on a run's channel gets the tokens made after it attached, here and elsewhere", async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const b = hubOn(prefix);
    const queue = new AsyncQueue<string | null>();
    const run = await a.startRun(queuedSource(queue, { count: 0 }), { keepAlive: true });
    queue.push('t0 ');
    const clients: EventRecorder[] = [];
    for (const hub of [a, b]) {
      const server = await startCoreServer(hub);
      cleanups.push(() => server.close());
      const client = watch(`${server.url}?ch=${encodeURIComponent(runChannel(run.key))}`);
      cleanups.push(() => client.close());
      await client.opened;
      clients.push(client);
    }
    queue.push('t1 ');
    queue.push('t2 ');
    for (const client of clients)
      await client.until(() => messageText(client.events).endsWith('t1 t2 '), 't1 and t2', 3_000);
  });

  it('starting a run on a closed run channel is refused with ChannelClosedError, as a publish to it is', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    await a.closeChannel(runChannel('shut'));
    await expect(
      a.startRun(queuedSource(new AsyncQueue(), { count: 0 }), { key: 'shut' }),
    ).rejects.toBeInstanceOf(ChannelClosedError);
    expect(await a.runStatus('shut')).toBeNull();
  });

  it('a producer whose token is refused because its run was taken over writes no end into it', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const admin = new Redis(redis.url);
    cleanups.push(() => admin.disconnect());
    const { queue, run } = await producing(a);
    // Another process owns the key now (as after A's lease lapsed and it was started again)
    // and has written to its channel.
    await admin.hset(`${prefix}run:${run.key}`, 'o', 'someone-else');
    const writer = storeOn(prefix);
    await writer.append(runChannel(run.key), 'data: the new owner\n', undefined);
    queue.push('t1 ');
    expect(await run.ended).toBe('interrupted');
    const entries = await admin.xrange(`${prefix}s:${runChannel(run.key)}`, '-', '+');
    expect(entries.at(-1)![1]).toContain('data: the new owner\n');
  });

  it("hub.publish refuses a run's channel: only the run writes there", async () => {
    const hub = hubOn(nextPrefix());
    await expect(hub.publish(runChannel('k'), 'x')).rejects.toThrow(TypeError);
    await expect(hub.publish(runChannel('k'), 'x')).rejects.toThrow(/run's channel/);
  });
});
