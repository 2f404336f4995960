/**
 * Operations across three hub processes on one Redis (issue 15): draining one process, and
 * rotating every stream (`maxAge`), send clients to the other processes, and every client
 * resumes with zero gaps and zero duplicates while events keep being published.
 */
import { parseEventId } from '@ssekit/core';
import { type RedisServer, startRedisServer, waitUntil } from '@ssekit/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type HubProcess,
  type RoutedClient,
  routedClient,
  startHubProcess,
} from './hub-processes.js';

const CLIENTS = 1000;

let redis: RedisServer;
const processes: HubProcess[] = [];
const clients: RoutedClient[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(processes.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await redis?.stop();
});

async function start(prefix: string, env: Record<string, string> = {}): Promise<HubProcess[]> {
  const started = await Promise.all(
    ['A', 'B', 'C'].map((name) => startHubProcess(name, redis.url, prefix, env)),
  );
  processes.push(...started);
  return started;
}

const seqOf = (id: string): number => parseEventId(id)!.seq;

/**
 * Publishes on `channel` from the given processes, one event at a time in turn, until `stop()`.
 * `ids()`: every id published, in seq order.
 */
function publisher(channel: string, from: () => HubProcess[]) {
  const published: string[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running; i++) {
      const live = from();
      const result = await live[i % live.length]!.publish(channel, 1);
      expect(result.status, result.error).toBe(200);
      published.push(...result.ids);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    ids: () => [...published].sort((a, b) => seqOf(a) - seqOf(b)),
    async stop(): Promise<void> {
      running = false;
      await done;
    },
  };
}

/** Every client got exactly the published ids from its first one on: no gap, no duplicate. */
function expectExact(watched: RoutedClient[], published: string[]): void {
  for (const client of watched) {
    const ids = client.ids();
    expect(client.events.filter((e) => e.type === 'ssekit-gap')).toEqual([]);
    const from = published.indexOf(ids[0]!);
    expect(from).toBeGreaterThanOrEqual(0);
    expect(ids).toEqual(published.slice(from));
  }
}

async function allReceive(watched: RoutedClient[], id: string): Promise<void> {
  for (const client of watched) {
    await client.until(() => client.ids().includes(id), 'the last event');
  }
}

describe('three hub processes on one Redis', () => {
  it(`draining one loses no event for any of ${CLIENTS} clients: they resume on the others, exactly`, async () => {
    const [a, b, c] = (await start('drain:')) as [HubProcess, HubProcess, HubProcess];
    let draining: HubProcess | undefined;
    const others = (): HubProcess[] => [a, b, c].filter((p) => p !== draining);
    // A first connection goes round-robin; a reconnect to a random process that is not draining,
    // as a load balancer does once the readiness probe says so.
    const watched = Array.from({ length: CLIENTS }, (_, i) => {
      const client = routedClient('feed', (attempt) => {
        if (attempt === 0) return [a, b, c][i % 3]!;
        const live = others();
        return live[Math.floor(Math.random() * live.length)]!;
      });
      clients.push(client);
      return client;
    });
    for (const client of watched) await client.until(() => client.opens >= 1, 'open');
    const onA = watched.filter((_, i) => i % 3 === 0);

    const events = publisher('feed', others);
    await waitUntil(() => events.ids().length >= 20, 'some events before the drain');
    expect((await a.health()).status).toBe(200);
    draining = a;
    const drained = a.drain(1000);
    let probe = await a.health();
    while (!probe.health.draining) probe = await a.health();
    // A readiness probe now takes A out of rotation.
    expect(probe).toMatchObject({ status: 503, health: { status: 'draining', ready: false } });
    expect(await drained).toEqual({ drained: true, streams: 0 });
    await waitUntil(() => onA.every((client) => client.opens >= 2), 'A clients reconnected');
    await events.stop();
    const last = await b.publish('feed', 1);
    const published = [...events.ids(), ...last.ids];
    await allReceive(watched, last.ids[0]!);
    expectExact(watched, published);
    for (const client of onA) {
      expect(client.connections[0]!.process).toBe('A');
      expect(client.connections.slice(1).every((x) => x.process !== 'A')).toBe(true);
      // Each reconnect carried the id of the last event it had: a resume, not a fresh start.
      expect(client.connections[1]!.lastEventId).not.toBeNull();
    }
  });

  it(`rotation (maxAge) moves ${CLIENTS} clients between the processes with zero gaps and zero duplicates`, async () => {
    // Long enough that 1,000 clients reconnecting every maxAge leave two cores time to deliver.
    const all = await start('rotate:', { MAX_AGE: '1500' });
    const watched = Array.from({ length: CLIENTS }, () => {
      const client = routedClient('ticks', () => all[Math.floor(Math.random() * all.length)]!);
      clients.push(client);
      return client;
    });
    for (const client of watched) await client.until(() => client.opens >= 1, 'open');
    const events = publisher('ticks', () => all);
    await waitUntil(
      () => watched.every((client) => client.opens >= 3),
      'every client rotated twice',
      30_000,
    );
    await events.stop();
    const last = await all[0]!.publish('ticks', 1);
    const published = [...events.ids(), ...last.ids];
    await allReceive(watched, last.ids[0]!);
    expectExact(watched, published);
    const moved = watched.filter(
      (client) => new Set(client.connections.map((x) => x.process)).size > 1,
    );
    expect(moved.length).toBeGreaterThan(CLIENTS / 2);
  });
});
