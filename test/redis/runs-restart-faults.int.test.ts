/**
 * Adversarial probes (second round) of resumable runs on Redis: Redis restarted under a running
 * run, abandonment with followers elsewhere, and hubs sharing a store. Each test states what a
 * follower should see; a failure is a defect, not a flaky harness.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createHub, RunExistsError, StoreUnavailableError } from '@ssekit/core';
import { redisStore } from '@ssekit/redis';
import {
  AsyncQueue,
  cleanupAfterEach,
  type EventRecorder,
  messageText,
  queuedSource,
  type RedisServer,
  recordUnhandledRejections,
  redisServerPerFile,
  startRedisServer,
  terminalEvent,
  waitUntil,
} from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { runHubs } from './run-hubs.js';
import { startTcpProxy } from './tcp-proxy.js';

const redis = redisServerPerFile();

const unhandled = recordUnhandledRejections();

const cleanups = cleanupAfterEach();

const { nextPrefix, newHub, hubOn, follower, follow } = runHubs(redis, cleanups, 'probe2-');

const terminalOf = (client: EventRecorder) => terminalEvent(client.events);

/** Ended: a terminal event, or closed for good (a 204 or 404 on a reconnect). */
const settled = (client: EventRecorder): boolean =>
  terminalOf(client) !== undefined || client.source.readyState === 2;

const pushed = queuedSource;

/**
 * Hubs A and B on one prefix of `url`, a run produced on A from a queue (lease 3 s, kept alive),
 * one follower on each hub, and `first` tokens seen by both.
 */
async function runOnTwoHubs(url: string, first: readonly string[]) {
  const prefix = nextPrefix();
  const a = hubOn(prefix, url);
  const b = hubOn(prefix, url);
  const onA = await follower(a);
  const onB = await follower(b);
  const queue = new AsyncQueue<string | null>();
  const finalised = { count: 0 };
  // Lease 3 s: renewals every second, so the producer notices a lost record a while after Redis
  // came back (a model that thinks for a second between tokens is ordinary).
  const run = await a.startRun(pushed(queue, finalised), { leaseMs: 3_000, keepAlive: true });
  const own = follow(onA, run.key);
  const other = follow(onB, run.key);
  for (const t of first) queue.push(t);
  const text = first.join('');
  await own.until(() => messageText(own.events) === text, 'the first tokens on A');
  await other.until(() => messageText(other.events) === text, 'the first tokens on B');
  return { a, b, queue, finalised, run, own, other };
}

describe('Redis restarted under a running run', () => {
  it('without data, while the source is thinking: every follower ends (terminal, 204 or 404), nobody waits forever', async () => {
    const { a, finalised, run, own, other } = await runOnTwoHubs(redis.url, ['t0 ', 't1 ', 't2 ']);

    await redis.kill();
    await redis.start();

    // The run's record is gone with the data: the producer finds that out at its next renewal.
    await expect(run.ended).resolves.toBeDefined();
    await waitUntil(() => finalised.count === 1, 'the source finalised', 10_000);
    await waitUntil(() => a.stats().runs === 0, 'no run left on A', 10_000);
    // Nobody may wait forever: each follower gets a terminal event or is refused for good.
    await other.until(() => settled(other), 'the follower on B ends', 10_000);
    await own.until(() => settled(own), 'the follower on the producing hub ends', 10_000);
    expect(finalised.count).toBe(1);
    expect(unhandled).toEqual([]);
  });
});

/** A fresh redis-server for one test (stopped after it). */
async function ownRedis(persistence: boolean): Promise<RedisServer> {
  const server = await startRedisServer({ persistence });
  cleanups.push(() => server.stop());
  return server;
}

/** No message twice, in order: the text a follower shows is a prefix-free run of the tokens. */
function expectNoDuplicate(client: EventRecorder): void {
  const texts = client.events.filter((e) => e.type === 'message').map((e) => e.data);
  expect(new Set(texts).size).toBe(texts.length);
}

describe('Redis emptied under a running run', () => {
  it('FLUSHALL while the source is thinking: every follower ends (terminal, 204 or 404), nobody waits forever', async () => {
    const { a, queue, finalised, run, own, other } = await runOnTwoHubs(redis.url, [
      't0 ',
      't1 ',
      't2 ',
    ]);
    const conn = new Redis(redis.url);
    await conn.flushall();
    conn.disconnect();
    // The source says one more token: its publish finds the history gone (a new epoch).
    queue.push('t3 ');
    await expect(run.ended).resolves.toBeDefined();
    await waitUntil(() => finalised.count === 1, 'the source finalised', 10_000);
    await other.until(() => settled(other), 'the follower on B ends', 10_000);
    await own.until(() => settled(own), 'the follower on the producing hub ends', 10_000);
    expect(a.stats().runs).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('without data, while the source is producing (its publishes fail): every follower ends', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const b = hubOn(prefix);
    const onA = await follower(a);
    const onB = await follower(b);
    const finalised = { count: 0 };
    const run = await a.startRun(
      async function* (signal) {
        try {
          for (let i = 0; !signal.aborted; i++) {
            yield `t${i} `;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        } finally {
          finalised.count++;
        }
      },
      { leaseMs: 3_000, keepAlive: true },
    );
    const own = follow(onA, run.key);
    const other = follow(onB, run.key);
    await own.until(() => own.events.length >= 3, 'tokens on A');
    await other.until(() => other.events.length >= 3, 'tokens on B');
    await redis.kill();
    await redis.start();
    const status = await run.ended;
    await waitUntil(() => finalised.count === 1, 'the source finalised', 10_000);
    await other.until(() => settled(other), 'the follower on B ends', 10_000);
    await own
      .until(() => settled(own), 'the follower on the producing hub ends', 5_000)
      .catch((error: Error) => {
        throw new Error(
          `${error.message.slice(0, 120)}; run ended ${status}; own: ${own.events.length} events, readyState ${own.source.readyState}, opens ${own.opens}; A: ${JSON.stringify(a.stats()).slice(0, 600)}`,
        );
      });
    expectNoDuplicate(own);
    expectNoDuplicate(other);
    expect(a.stats().runs).toBe(0);
    expect(unhandled).toEqual([]);
  });
});

describe('Redis restarted with its data under a running run', () => {
  it('with AOF (appendfsync always): the run goes on, both followers get every token once and done', async () => {
    const server = await ownRedis(true);
    const { a, queue, finalised, run, own, other } = await runOnTwoHubs(server.url, [
      't0 ',
      't1 ',
      't2 ',
    ]);
    await server.kill();
    await server.start();
    await (a as unknown as { store: { ready(): Promise<void> } }).store.ready();
    for (const t of ['t3 ', 't4 ']) queue.push(t);
    queue.push(null);
    expect(await run.ended).toBe('done');
    for (const client of [own, other]) {
      await client.until(() => settled(client), 'the follower ends', 10_000);
      expectNoDuplicate(client);
      expect(terminalOf(client)?.type).toBe('done');
    }
    expect(finalised.count).toBe(1);
    expect(a.stats().runs).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('from an older RDB snapshot: followers are told stale and get no token twice; the run ends for everyone', async () => {
    const server = await ownRedis(false);
    const { a, queue, finalised, run, own, other } = await runOnTwoHubs(server.url, ['t0 ']);
    const conn = new Redis(server.url);
    await conn.save();
    conn.disconnect();
    for (const t of ['t1 ', 't2 ']) queue.push(t);
    await own.until(() => messageText(own.events) === 't0 t1 t2 ', 'three tokens on A');
    await other.until(() => messageText(other.events) === 't0 t1 t2 ', 'three tokens on B');
    await server.kill();
    await server.start();
    await (a as unknown as { store: { ready(): Promise<void> } }).store.ready();
    for (const t of ['t3 ', 't4 ']) queue.push(t);
    queue.push(null);
    await run.ended;
    await waitUntil(() => finalised.count === 1, 'the source finalised', 10_000);
    for (const client of [own, other]) {
      await client.until(() => settled(client), 'the follower ends', 10_000);
      expectNoDuplicate(client);
    }
    expect(a.stats().runs).toBe(0);
    expect(unhandled).toEqual([]);
  });
});

describe('hub.close() while runs produce', () => {
  it('followers elsewhere get error (interrupted) within the lease bound; the source is finalised once; no unhandled rejection', async () => {
    const prefix = nextPrefix();
    const a = newHub(prefix);
    const b = hubOn(prefix);
    const onA = await follower(a);
    const onB = await follower(b);
    const leaseMs = 600;
    const finalised = [0, 0, 0];
    const runs = await Promise.all(
      [0, 1, 2].map((i) =>
        a.startRun(
          async function* (signal) {
            try {
              for (let n = 0; !signal.aborted; n++) {
                yield `t${n} `;
                await new Promise((resolve) => setTimeout(resolve, 10));
              }
            } finally {
              finalised[i]!++;
            }
          },
          { leaseMs, keepAlive: true },
        ),
      ),
    );
    const own = runs.map((run) => follow(onA, run.key));
    const other = runs.map((run) => follow(onB, run.key));
    for (const client of [...own, ...other])
      await client.until(() => client.events.length >= 3, 'tokens');
    await a.close();
    const closedAt = Date.now();
    for (const client of other) {
      await client.until(() => terminalOf(client) !== undefined, 'interrupted on B', 10_000);
      expect(JSON.parse(terminalOf(client)!.data)).toMatchObject({ reason: 'interrupted' });
      expectNoDuplicate(client);
    }
    expect(Date.now() - closedAt).toBeLessThan(leaseMs * 2 + 1_000);
    for (const run of runs) await run.ended;
    expect(finalised).toEqual([1, 1, 1]);
    expect(a.stats().runs).toBe(0);
    for (const client of own)
      await client.until(() => settled(client), 'own follower ends', 10_000);
    expect(unhandled).toEqual([]);
  });
});

describe('two hubs in one process', () => {
  it('sharing one redisStore instance: a follower on each hub gets the whole run', async () => {
    const prefix = nextPrefix();
    const store = redisStore({ url: redis.url, prefix, retryDelay: () => 50 });
    const a = createHub({ store });
    const b = createHub({ store });
    cleanups.push(() => a.close());
    const onA = await follower(a);
    const onB = await follower(b);
    const queue = new AsyncQueue<string | null>();
    const finalised = { count: 0 };
    const run = await a.startRun(pushed(queue, finalised), { leaseMs: 3_000, keepAlive: true });
    const own = follow(onA, run.key);
    queue.push('t0 ');
    await own.until(() => messageText(own.events) === 't0 ', 't0 on A');
    const other = follow(onB, run.key);
    await other.until(() => messageText(other.events) === 't0 ', 't0 on B');
    for (const t of ['t1 ', 't2 ']) queue.push(t);
    queue.push(null);
    expect(await run.ended).toBe('done');
    for (const client of [own, other]) {
      await client.until(() => terminalOf(client) !== undefined, 'done', 5_000);
      expect(messageText(client.events)).toBe('t0 t1 t2 ');
    }
  });

  it('one hub per store on the same prefix: a run on one is followed, stopped and interrupted through the other', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const b = hubOn(prefix);
    const onA = await follower(a);
    const onB = await follower(b);
    const finalised = { count: 0 };
    const queue = new AsyncQueue<string | null>();
    const run = await a.startRun(pushed(queue, finalised), { leaseMs: 600, keepAlive: true });
    const own = follow(onA, run.key);
    const other = follow(onB, run.key);
    queue.push('t0 ');
    await own.until(() => messageText(own.events) === 't0 ', 't0 on A');
    await other.until(() => messageText(other.events) === 't0 ', 't0 on B');
    expect(await b.stopRun(run.key)).toBe(true);
    expect(await run.ended).toBe('stopped');
    for (const client of [own, other]) {
      await client.until(() => terminalOf(client) !== undefined, 'stopped', 5_000);
      expect(terminalOf(client)?.type).toBe('stopped');
      expectNoDuplicate(client);
    }
    expect(finalised.count).toBe(1);
    expect(await b.stopRun(run.key)).toBe(false);
  });
});

describe('followers on another process only', () => {
  it('abandonment: a follower attached on B before graceMs passed keeps the run alive', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const b = hubOn(prefix);
    const onB = await follower(b);
    const queue = new AsyncQueue<string | null>();
    const finalised = { count: 0 };
    // Renewals every 500 ms; abandoned after 900 ms with no follower anywhere.
    const run = await a.startRun(pushed(queue, finalised), { leaseMs: 1_500, graceMs: 900 });
    const started = (await a.runStatus(run.key))!;
    // The producer's first renewal (500 ms in): the follower on B attaches right after it,
    // well within graceMs.
    await pollUntil(
      async () => ((await a.runStatus(run.key))?.leaseUntil ?? 0) > started.leaseUntil,
      'the first renewal',
    );
    const attachedAt = Date.now();
    const other = follow(onB, run.key);
    await other.opened;
    queue.push('t0 ');
    await other.until(() => messageText(other.events) === 't0 ', 't0 on B');
    // B says so in the store at its first tick; the run must not have been stopped before it.
    await pollUntil(
      async () =>
        run.signal.aborted || ((await a.runStatus(run.key))?.seenAt ?? 0) > started.seenAt,
      "B's first touch",
    );
    expect(
      run.signal.aborted
        ? `stopped ${Date.now() - attachedAt} ms after a follower attached on B`
        : 'running',
    ).toBe('running');
    queue.push(null);
    expect(await run.ended).toBe('done');
  });

  it('maxDuration: the follower on B gets stopped; the source is finalised once', async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const b = hubOn(prefix);
    const onB = await follower(b);
    const queue = new AsyncQueue<string | null>();
    const finalised = { count: 0 };
    const run = await a.startRun(pushed(queue, finalised), {
      leaseMs: 600,
      maxDurationMs: 400,
      keepAlive: true,
    });
    const other = follow(onB, run.key);
    queue.push('t0 ');
    await other.until(() => messageText(other.events) === 't0 ', 't0 on B');
    expect(await run.ended).toBe('stopped');
    await other.until(() => terminalOf(other) !== undefined, 'stopped on B', 5_000);
    expect(terminalOf(other)?.type).toBe('stopped');
    expect(finalised.count).toBe(1);
    expect(a.stats().runs).toBe(0);
  });
});

/** Polls state held in Redis (no event announces a lease renewal or a touch), bounded. */
async function pollUntil(
  condition: () => Promise<boolean>,
  what: string,
  ms = 5_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('a producer paused past its lease while its key is started again', () => {
  it("the new run's followers never see the old producer's tokens", async () => {
    const prefix = nextPrefix();
    const b = hubOn(prefix);
    const onB = await follower(b);
    const leaseMs = 300;
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./fixtures/run-producer.mjs', import.meta.url))],
      {
        env: { ...process.env, REDIS_URL: redis.url, PREFIX: prefix, LEASE_MS: String(leaseMs) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    cleanups.push(() => void child.kill('SIGKILL'));
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const { key } = JSON.parse(line) as { key: string };
    const old = follow(onB, key);
    await old.until(() => old.events.length >= 3, "the old producer's tokens");
    child.kill('SIGSTOP');
    await old.until(() => terminalOf(old) !== undefined, 'interrupted, from B', 10_000);
    // The key is free again: B starts a new run with it, which thinks for a while.
    const queue = new AsyncQueue<string | null>();
    const finalised = { count: 0 };
    const run = await b.startRun(pushed(queue, finalised), { key, leaseMs: 3_000 });
    const fresh = follow(onB, key);
    queue.push('n0 ');
    await fresh.until(() => messageText(fresh.events) === 'n0 ', 'n0 from the new run');
    child.kill('SIGCONT');
    // The old producer wakes; at its next renewal (100 ms) it finds its run lost and stops. Until
    // then it must not write into the new run: anything but n0 on the new run's follower is
    // foreign (bounded wait for such a token; none is the expected outcome).
    await fresh
      .until(() => messageText(fresh.events) !== 'n0 ', 'a token from the old producer', 2_000)
      .catch(() => {});
    // (B produces the new run, so it doesn't read its channel back: a foreign entry shows up only
    // once B's next append can't be echoed, i.e. with n1.)
    queue.push('n1 ');
    queue.push(null);
    expect(await run.ended).toBe('done');
    await fresh.until(() => terminalOf(fresh) !== undefined, 'done', 5_000);
    expect(messageText(fresh.events)).toBe('n0 n1 ');
  });
});

describe('stop from another process around a Redis outage', () => {
  it('refused at once while Redis is away, honoured after; a stop recorded just before a restart (AOF) still stops the run', async () => {
    const server = await ownRedis(true);
    const prefix = nextPrefix();
    const a = hubOn(prefix, server.url);
    const b = hubOn(prefix, server.url);
    const onB = await follower(b);
    const queue = new AsyncQueue<string | null>();
    const finalised = { count: 0 };
    // Renewals every 2 s: the stop below is recorded well before the producer looks.
    const run = await a.startRun(pushed(queue, finalised), { leaseMs: 6_000, keepAlive: true });
    const other = follow(onB, run.key);
    queue.push('t0 ');
    await other.until(() => messageText(other.events) === 't0 ', 't0 on B');
    await server.kill();
    const asked = Date.now();
    await expect(b.stopRun(run.key)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - asked).toBeLessThan(2_000);
    await server.start();
    await (b as unknown as { store: { ready(): Promise<void> } }).store.ready();
    expect(await b.stopRun(run.key)).toBe(true);
    await server.kill();
    await server.start();
    expect(await run.ended).toBe('stopped');
    await other.until(() => terminalOf(other) !== undefined, 'stopped on B', 10_000);
    expect(terminalOf(other)?.type).toBe('stopped');
    expect(finalised.count).toBe(1);
    expect(a.stats().runs).toBe(0);
    expect(unhandled).toEqual([]);
  });
});

describe('runs nobody ends', () => {
  it("hub.close() (or a crash) with a run nobody follows: the run's keys still expire", async () => {
    const prefix = nextPrefix();
    const a = newHub(prefix);
    const queue = new AsyncQueue<string | null>();
    const finalised = { count: 0 };
    const run = await a.startRun(pushed(queue, finalised), {
      leaseMs: 300,
      retentionMs: 1_000,
    });
    queue.push('t0 ');
    await pollUntil(async () => (await a.runStatus(run.key)) !== null, 'the run');
    await a.close();
    await run.ended;
    const conn = new Redis(redis.url);
    cleanups.push(() => void conn.disconnect());
    const hash = `${prefix}run:${run.key}`;
    const stream = `${prefix}s:ssekit:run:${run.key}`;
    // Nobody follows, so nobody ever marks it interrupted: whatever happens, Redis must not keep
    // its state and history for ever (every deploy's SIGTERM or kill -9 would add some).
    expect({ hash: await conn.pttl(hash), stream: await conn.pttl(stream) }).toEqual({
      hash: expect.toSatisfy((ttl: number) => ttl > 0),
      stream: expect.toSatisfy((ttl: number) => ttl > 0),
    });
  });
});

describe('a process that lost its run starts the same key again', () => {
  it('the old source is stopped (finally once) and never writes into the new run', async () => {
    const proxy = await startTcpProxy(redis.port);
    cleanups.push(() => proxy.close());
    const prefix = nextPrefix();
    // A reaches Redis through the proxy (cut below); B directly.
    const a = hubOn(prefix, proxy.url);
    const b = hubOn(prefix);
    const onB = await follower(b);
    const oldQueue = new AsyncQueue<string | null>();
    const oldFinalised = { count: 0 };
    const leaseMs = 900;
    const old = await a.startRun(pushed(oldQueue, oldFinalised), { leaseMs, keepAlive: true });
    const key = old.key;
    const first = follow(onB, key);
    oldQueue.push('old0 ');
    await first.until(() => messageText(first.events) === 'old0 ', 'old0 on B');
    // A loses Redis (its source is thinking, so nothing fails) past its lease: B interrupts it.
    proxy.pointTo(1);
    await first.until(() => terminalOf(first) !== undefined, 'interrupted, from B', 10_000);
    proxy.pointTo(redis.port);
    await (a as unknown as { store: { ready(): Promise<void> } }).store.ready();
    // Before A's next renewal tells it the old run is lost, the same key is started on A again
    // (a client retrying its POST, routed to A).
    const newQueue = new AsyncQueue<string | null>();
    const newFinalised = { count: 0 };
    const fresh = await a.startRun(pushed(newQueue, newFinalised), { key, leaseMs });
    const second = follow(onB, key);
    newQueue.push('new0 ');
    await second.until(() => messageText(second.events).includes('new0 '), 'new0 on B');
    // The old source says something (bounded wait for it to show up where it must not).
    oldQueue.push('old1 ');
    const oldEnd = await Promise.race([
      old.ended,
      new Promise<string>((resolve) => setTimeout(() => resolve('never ended'), 3_000).unref()),
    ]);
    newQueue.push('new1 ');
    newQueue.push(null);
    expect(await fresh.ended).toBe('done');
    await second.until(() => terminalOf(second) !== undefined, 'done on B', 5_000);
    expect({
      text: messageText(second.events),
      oldEnd,
      oldFinalised: oldFinalised.count,
      runs: a.stats().runs,
    }).toEqual({ text: 'new0 new1 ', oldEnd: 'interrupted', oldFinalised: 1, runs: 0 });
  });
});

describe('many starts of one key at once on Redis', () => {
  it('across two hubs: exactly one wins, the others get RunExistsError, and its follower gets its text once', async () => {
    const prefix = nextPrefix();
    const hubs = [hubOn(prefix), hubOn(prefix)];
    const onB = await follower(hubs[1]!);
    const queues = Array.from({ length: 20 }, () => new AsyncQueue<string | null>());
    const finalised = { count: 0 };
    const results = await Promise.allSettled(
      queues.map((queue, i) =>
        hubs[i % 2]!.startRun(pushed(queue, finalised), { key: 'same', keepAlive: true }),
      ),
    );
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RunExistsError);
    const client = follow(onB, 'same');
    const queue = queues[won[0]!]!;
    queue.push('w0 ');
    queue.push(null);
    await client.until(() => terminalOf(client) !== undefined, 'done', 5_000);
    expect(messageText(client.events)).toBe('w0 ');
    expect(finalised.count).toBe(1);
  });
});
