/**
 * Three hub processes share one Redis: a client on one process gets what the others publish, and
 * a client that reconnects to another process resumes exactly where it left off.
 */
import { parseEventId } from '@ssekit/core';
import { type RedisServer, startRedisServer } from '@ssekit/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type HubProcess,
  type RoutedClient,
  routedClient,
  startHubProcess,
} from './hub-processes.js';

let redis: RedisServer;
let a: HubProcess;
let b: HubProcess;
let c: HubProcess;
const clients: RoutedClient[] = [];

const seqOf = (id: string): number => parseEventId(id)!.seq;
const bySeq = (ids: string[]): string[] => [...ids].sort((x, y) => seqOf(x) - seqOf(y));

beforeAll(async () => {
  redis = await startRedisServer();
  [a, b, c] = (await Promise.all(
    ['A', 'B', 'C'].map((name) => startHubProcess(name, redis.url, 'fanout:')),
  )) as [HubProcess, HubProcess, HubProcess];
});
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});
afterAll(async () => {
  await Promise.all([a, b, c].map((p) => p?.stop()));
  await redis?.stop();
});

function client(
  channels: string,
  route: Parameters<typeof routedClient>[1],
  types: string[] = [],
): RoutedClient {
  const made = routedClient(channels, route, types);
  clients.push(made);
  return made;
}

/** A gate: `route` waits on it, so a reconnect happens only once the test opens it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('several processes on one Redis', () => {
  it('a client on A receives what B and C publish, in id order', async () => {
    const onA = client('news', () => a);
    await onA.until(() => onA.opens === 1, 'open on A');
    const results = await Promise.all([
      b.publish('news', 20),
      c.publish('news', 20),
      b.publish('other', 5),
    ]);
    const expected = bySeq([...results[0].ids, ...results[1].ids]);
    await onA.until(() => onA.ids().length === 40, 'forty events');
    expect(onA.ids()).toEqual(expected);
    expect(new Set(onA.ids().map((id) => parseEventId(id)!.epoch)).size).toBe(1);
    expect(onA.connections.map((x) => x.process)).toEqual(['A']);
  });

  for (const channels of ['solo', 'x,y,z']) {
    it(`resumes on B, after a drop on A, exactly the events C published meanwhile (${channels})`, async () => {
      const names = channels.split(',');
      const reconnect = gate();
      const resumer = client(channels, async (attempt) => {
        if (attempt === 0) return a;
        await reconnect.wait;
        return b;
      });
      await resumer.until(() => resumer.opens === 1, 'open on A');
      const before = await c.publish(names, 6);
      await resumer.until(() => resumer.ids().length === 6, 'first six');
      expect(await a.drop()).toBeGreaterThan(0);
      // Published while the client is away: its reconnect is held until these are in Redis.
      const missed = await c.publish([...names, 'unrelated'], 12);
      reconnect.open();
      await resumer.until(() => resumer.opens === 2, 'reconnect to B');
      const live = await c.publish(names, 3);
      const mine = (events: typeof missed.events) =>
        events.filter((e) => names.includes(e.channel)).map((e) => e.id);
      const expected = [...before.ids, ...mine(missed.events), ...live.ids];
      await resumer.until(() => resumer.ids().length >= expected.length, 'missed and live events');
      expect(resumer.ids()).toEqual(expected);
      expect(resumer.events.some((e) => e.type === 'ssekit-gap')).toBe(false);
      expect(resumer.connections).toEqual([
        { process: 'A', lastEventId: null },
        { process: 'B', lastEventId: before.ids[5] },
      ]);
    });
  }

  it('closing a channel on one process ends its streams on every process, after its final event, and reconnects get 204', async () => {
    const onA = client('closing', () => a, ['bye']);
    const onB = client('closing', () => b, ['bye']);
    await onA.until(() => onA.opens === 1, 'open on A');
    await onB.until(() => onB.opens === 1, 'open on B');
    const last = await b.publish('closing', 2);
    await c.closeChannel('closing', 'closed by C');
    for (const watched of [onA, onB]) {
      await watched.until(
        () => watched.source.readyState === watched.source.CLOSED,
        'client stops',
      );
      expect(watched.ids()).toEqual(last.ids);
      expect(watched.events.filter((e) => e.type === 'bye').map((e) => e.data)).toEqual([
        'closed by C',
      ]);
    }
    const late = await a.publish('closing', 1);
    expect(late.status).toBe(503);
    expect(late.error).toMatch(/closed/);
  });
});
