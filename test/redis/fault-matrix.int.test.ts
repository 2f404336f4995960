/**
 * Redis faults while three hub processes publish and clients keep reconnecting to random
 * processes: restarts with and without AOF, a restart from an older snapshot, a hang longer than
 * commandTimeout, and a failover to a replica that missed the last appends. Whatever the fault,
 * every client gets each acknowledged event exactly once or is told (`ssekit-gap`, `stale`) that
 * history was lost, and no process crashes. Where Redis keeps everything (AOF with fsync always,
 * a hang), nothing is lost and nothing is signalled.
 */

import { cleanupAfterEach, type RedisServer, startRedisServer } from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  type HubProcess,
  type PublishedEvent,
  type RoutedClient,
  routedClient,
  startHubProcess,
} from './hub-processes.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const COMMAND_TIMEOUT = 500;
const CHANNEL_SETS = ['a', 'b', 'a,b', 'a', 'b', 'a,b'];

interface Watched {
  client: RoutedClient;
  channels: string[];
  /** When each gap signal arrived, with its reason. */
  gaps: Array<{ at: number; reason: string }>;
}

interface Harness {
  redis: RedisServer;
  proxy: TcpProxy;
  processes: HubProcess[];
  watched: Watched[];
  /** Acknowledged publishes, with when the acknowledgement arrived. */
  acked: Array<PublishedEvent & { at: number }>;
  /** Publishes run while the test's fault plays out; resolves when `stop()` is called. */
  publishing: Promise<void>;
  stop(): void;
}

const cleanups = cleanupAfterEach();

/** A test's own connection: its reconnect errors after a kill are expected. */
function quiet(conn: Redis): Redis {
  conn.on('error', () => {});
  return conn;
}

/** How each process saw the history: lost (streams ended) or carried over. */
async function historyViews(h: Harness): Promise<Array<[number, number]>> {
  return Promise.all(
    h.processes.map(async (p) => {
      const { store } = await p.stats();
      return [store.historyChanges, store.epochsCarriedOver] as [number, number];
    }),
  );
}

function alive(p: HubProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

async function setup(persistence: boolean, prefix: string): Promise<Harness> {
  const redis = await startRedisServer({ persistence });
  cleanups.push(() => redis.stop());
  const proxy = await startTcpProxy(redis.port);
  cleanups.push(() => proxy.close());
  const processes = await Promise.all(
    ['A', 'B', 'C'].map((name) =>
      startHubProcess(name, proxy.url, prefix, { COMMAND_TIMEOUT: String(COMMAND_TIMEOUT) }),
    ),
  );
  cleanups.push(() => Promise.all(processes.map((p) => p.stop())).then(() => {}));
  const pick = (): HubProcess => processes[Math.floor(Math.random() * processes.length)]!;
  const watched = CHANNEL_SETS.map((set): Watched => {
    const client = routedClient(set, pick);
    const gaps: Watched['gaps'] = [];
    client.source.addEventListener('ssekit-gap', (event) => {
      gaps.push({ at: Date.now(), reason: JSON.parse(String(event.data)).reason });
    });
    return { client, channels: set.split(','), gaps };
  });
  cleanups.push(() => {
    for (const w of watched) w.client.close();
  });
  await Promise.all(watched.map((w) => w.client.until(() => w.client.opens >= 1, 'open')));
  const acked: Harness['acked'] = [];
  let stopped = false;
  const loop = async (p: HubProcess): Promise<void> => {
    // Each round publishes a few events on both channels, then waits for the answer: a bounded
    // rate, whatever the fault does to latency.
    for (let round = 0; round < 2_000 && !stopped; round++) {
      const result = await p.publish(['a', 'b'], 2).catch(() => undefined);
      const at = Date.now();
      for (const event of result?.events ?? []) acked.push({ ...event, at });
      if (result?.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const publishing = Promise.all(processes.map(loop)).then(() => {});
  cleanups.push(async () => {
    stopped = true;
    await publishing;
  });
  return {
    redis,
    proxy,
    processes,
    watched,
    acked,
    publishing,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Waits until `count` more events were acknowledged (publishing is going on), and every process
 * knows an epoch: one that never learned the first can't see it change, and the checks of how
 * each process saw the fault would fail for that reason alone.
 */
async function published(h: Harness, count: number): Promise<void> {
  const target = h.acked.length + count;
  await expect
    .poll(() => h.acked.length, { timeout: 15_000, interval: 20 })
    .toBeGreaterThanOrEqual(target);
  await expect
    .poll(
      async () => (await Promise.all(h.processes.map((p) => p.stats()))).map((s) => s.store.epoch),
      { timeout: 15_000, interval: 20 },
    )
    .not.toContain(null);
}

/**
 * Stops publishing, publishes one last batch, waits for every client to have it, then checks:
 * no event twice, every acknowledged event received or covered by a later gap signal, only
 * `stale` gaps, and every process alive.
 */
async function settle(h: Harness, lossless: boolean): Promise<void> {
  h.stop();
  await h.publishing;
  // Other processes may have published since the fault while this one still reconnects.
  await expect
    .poll(async () => (await h.processes[0]!.health()).status, { timeout: 15_000, interval: 20 })
    .toBe(200);
  const last = await h.processes[0]!.publish(['a', 'b'], 2);
  expect(last.status, last.error).toBe(200);
  const lastAt = Date.now();
  for (const event of last.events) h.acked.push({ ...event, at: lastAt });
  const keyOf = (data: string): string => {
    const parsed = JSON.parse(data) as { n: number; pid: number };
    return `${parsed.pid}:${parsed.n}`;
  };
  for (const [i, w] of h.watched.entries()) {
    const finals = last.events.filter((e) => w.channels.includes(e.channel)).map((e) => e.key);
    const received = (): string[] =>
      w.client.events.filter((e) => e.type === 'message').map((e) => keyOf(e.data));
    await w.client
      .until(
        () => finals.every((key) => received().includes(key)),
        `client ${i} got the last batch`,
        20_000,
      )
      .catch(async (error: Error) => {
        // What the next reader of a failure needs (a rare flake, see the closing note of
        // 2026-12-02): where the client was connected, and what each process's store saw.
        const stats = await Promise.all(h.processes.map((p) => p.stats().catch(() => null)));
        throw new Error(
          `${error.message}; channels ${w.channels}, opens ${w.client.opens}, readyState ${w.client.source.readyState}, connections ${JSON.stringify(w.client.connections)}, acked ${h.acked.length}, process stats ${JSON.stringify(stats)}`,
        );
      });
    const keys = received();
    const got = new Set(keys);
    const silent = h.acked.filter(
      (e) =>
        w.channels.includes(e.channel) &&
        !got.has(e.key) &&
        !w.gaps.some((gap) => gap.at >= e.at - 5),
    );
    expect(silent, `client ${i}: acknowledged events lost without a signal`).toEqual([]);
    expect(keys.length, `client ${i}: no event twice`).toBe(got.size);
    for (const gap of w.gaps) expect(gap.reason).toBe('stale');
    if (lossless) {
      expect(w.gaps, `client ${i}: nothing to signal`).toEqual([]);
      const mine = h.acked.filter((e) => w.channels.includes(e.channel)).map((e) => e.key);
      expect(mine.filter((key) => !got.has(key))).toEqual([]);
    }
  }
  expect(h.processes.every(alive)).toBe(true);
  for (const p of h.processes) expect(p.stderr()).not.toMatch(/Unhandled|uncaught|at .*\(/i);
}

async function waitForSync(master: Redis, replica: Redis): Promise<void> {
  const offsetOf = async (conn: Redis, field: string): Promise<number> =>
    Number(new RegExp(`${field}:(\\d+)`).exec(await conn.info('replication'))?.[1] ?? -1);
  await expect
    .poll(
      async () =>
        (await offsetOf(replica, 'slave_repl_offset')) ===
        (await offsetOf(master, 'master_repl_offset')),
      { timeout: 10_000, interval: 20 },
    )
    .toBe(true);
}

describe('Redis faults under load, three processes, clients on random processes', () => {
  it('restart with AOF (fsync always): nothing lost, nothing signalled, no stream needed to end', async () => {
    const h = await setup(true, 'aof:');
    await published(h, 30);
    await h.redis.kill();
    await h.redis.start();
    await published(h, 30);
    await settle(h, true);
    // A new epoch (this server can't vouch for the old counter alone), carried over whole.
    expect(await historyViews(h)).toEqual([
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
    expect(h.watched.every((w) => w.client.opens === 1)).toBe(true);
  });

  it('restart without data: every resume is told stale, nothing is lost silently or repeated', async () => {
    const h = await setup(false, 'nodata:');
    await published(h, 30);
    await h.redis.kill();
    await h.redis.start();
    await published(h, 30);
    await settle(h, false);
    expect(h.watched.every((w) => w.gaps.length >= 1)).toBe(true);
    for (const [changes] of await historyViews(h)) expect(changes).toBeGreaterThanOrEqual(1);
  });

  it('restart from an older snapshot: what came after it is signalled stale, no id is reused', async () => {
    const h = await setup(false, 'snapshot:');
    const admin = quiet(new Redis(h.redis.url));
    cleanups.push(() => admin.disconnect());
    await published(h, 20);
    await admin.call('SAVE');
    // Acknowledged after the snapshot: lost by the restart.
    await published(h, 20);
    const seqAtKill = Number(await admin.get('snapshot:seq'));
    const epochAtKill = (await admin.get('snapshot:epoch'))!;
    await h.redis.kill();
    await h.redis.start();
    await published(h, 30);
    await settle(h, false);
    // The old epoch is remembered as one that lost its tail: ids up to the snapshot still
    // position a replay, but every resume from it is told stale.
    const [kind, base] = String(await admin.hget('snapshot:epochs', epochAtKill)).split(':');
    expect(kind).toBe('l');
    expect(Number(base)).toBeLessThan(seqAtKill);
    const ids = h.acked.map((e) => e.id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(h.watched.every((w) => w.gaps.length >= 1)).toBe(true);
    for (const [changes] of await historyViews(h)) expect(changes).toBeGreaterThanOrEqual(1);
  });

  it('a hang longer than commandTimeout: publishes fail meanwhile, nothing is lost', async () => {
    const h = await setup(false, 'hang:');
    await published(h, 30);
    const rejected = h.acked.length;
    h.redis.pause();
    try {
      // Publishes time out: the processes say degraded.
      await expect
        .poll(async () => (await h.processes[0]!.stats()).store.status, { timeout: 10_000 })
        .toBe('degraded');
      await new Promise((resolve) => setTimeout(resolve, COMMAND_TIMEOUT));
    } finally {
      h.redis.resume();
    }
    expect(h.acked.length - rejected).toBeLessThan(10);
    await published(h, 30);
    await expect
      .poll(async () => (await h.processes[0]!.stats()).store, { timeout: 10_000 })
      .toMatchObject({ status: 'ready', lastError: null });
    await settle(h, true);
    expect(h.watched.every((w) => w.client.opens === 1)).toBe(true);
  });

  it('failover to a replica that missed the last appends: the loss is signalled stale everywhere', async () => {
    const h = await setup(false, 'failover:');
    // The replica follows the master through a link that the test can hold back.
    const link = await startTcpProxy(h.redis.port);
    cleanups.push(() => link.close());
    const replica = await startRedisServer({ replicaOf: link.port });
    cleanups.push(() => replica.stop());
    const master = quiet(new Redis(h.redis.url));
    const onReplica = quiet(new Redis(replica.url));
    cleanups.push(() => master.disconnect());
    cleanups.push(() => onReplica.disconnect());
    await published(h, 20);
    await waitForSync(master, onReplica);
    // The link falls behind: the appends from here on reach only the master.
    link.hold();
    await published(h, 20);
    const seqAtKill = Number(await master.get('failover:seq'));
    await h.redis.kill();
    await onReplica.call('REPLICAOF', 'NO', 'ONE');
    // The replica really lags: acknowledged appends are missing from it.
    expect(Number(await onReplica.get('failover:seq'))).toBeLessThan(seqAtKill);
    h.proxy.pointTo(replica.port);
    await published(h, 30);
    await settle(h, false);
    const ids = h.acked.map((e) => e.id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(h.watched.every((w) => w.gaps.length >= 1)).toBe(true);
    for (const [changes] of await historyViews(h)) expect(changes).toBeGreaterThanOrEqual(1);
  });
});
