/**
 * Redis killed (SIGKILL) and restarted while clients are connected to three hub processes.
 * With persistence, nothing Redis accepted is lost and the open streams just carry on; without
 * it, the history is gone and every resuming client is told so (`stale`), never silently.
 */
import { parseEventId } from '@ssekit/core';
import { type RedisServer, startRedisServer } from '@ssekit/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HubProcess,
  type RoutedClient,
  routedClient,
  startHubProcess,
} from './hub-processes.js';

let redis: RedisServer | undefined;
let processes: HubProcess[] = [];
let clients: RoutedClient[] = [];

afterEach(async () => {
  for (const watched of clients) watched.close();
  await Promise.all(processes.map((p) => p.stop()));
  await redis?.stop();
  clients = [];
  processes = [];
  redis = undefined;
});

async function setup(persistence: boolean): Promise<HubProcess[]> {
  redis = await startRedisServer({ persistence });
  processes = await Promise.all(
    ['A', 'B', 'C'].map((name) => startHubProcess(name, redis!.url, 'outage:')),
  );
  return processes;
}

/** One client per [process, channels]; each always reconnects to its own process. */
function connect(specs: Array<[HubProcess, string]>): RoutedClient[] {
  clients = specs.map(([target, channels]) => routedClient(channels, () => target));
  return clients;
}

async function storeStatus(p: HubProcess): Promise<string> {
  const { store } = await p.stats();
  return `${store.status}/${store.readerStatus}`;
}

function alive(p: HubProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

describe('Redis goes away', () => {
  it('with persistence: streams stay open, publish rejects meanwhile, delivery resumes with nothing lost', async () => {
    const [a, b, c] = (await setup(true)) as [HubProcess, HubProcess, HubProcess];
    const watchers = connect([
      [a, 'f'],
      [b, 'f,g'],
      [c, 'f'],
    ]);
    await Promise.all(watchers.map((w) => w.until(() => w.opens === 1, 'open')));
    const before = await a.publish('f', 5);
    await Promise.all(
      watchers.map((w) => w.until(() => w.ids().length === 5, 'five before the outage')),
    );
    await Promise.all(processes.map((p) => expect.poll(() => storeStatus(p)).toBe('ready/ready')));

    await redis!.kill();
    const during = await b.publish('f', 1);
    expect(during.status).toBe(503);
    expect(during.error).toMatch(/Redis is unavailable.*cannot publish/);
    await Promise.all(
      processes.map((p) => expect.poll(() => storeStatus(p)).toMatch(/^reconnecting\//)),
    );

    await redis!.start();
    await Promise.all(
      processes.map((p) =>
        expect.poll(() => storeStatus(p), { timeout: 10_000 }).toBe('ready/ready'),
      ),
    );
    const after = await c.publish(['f', 'g'], 6);
    expect(after.status).toBe(200);
    const afterF = after.events.filter((e) => e.channel === 'f').map((e) => e.id);
    // The restarted server starts a new epoch (it can't vouch for the counter alone), but the
    // history was carried over whole: the counter goes on and nobody is told of a gap.
    const seqs = [...before.ids, ...after.ids].map((id) => parseEventId(id)!.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    for (const p of processes)
      expect((await p.stats()).store).toMatchObject({ historyChanges: 0, epochsCarriedOver: 1 });
    const [onA, onB, onC] = watchers as [RoutedClient, RoutedClient, RoutedClient];
    for (const w of [onA, onC]) {
      await w.until(() => w.ids().length === 8, 'the events after the restart');
      expect(w.ids()).toEqual([...before.ids, ...afterF]);
    }
    await onB.until(() => onB.ids().length === 11, 'both channels after the restart');
    expect(onB.ids()).toEqual([...before.ids, ...after.ids]);
    // The streams never ended: no reconnect was needed, no gap was signalled.
    for (const w of watchers) {
      expect(w.opens).toBe(1);
      expect(w.events.filter((e) => e.type === 'ssekit-gap')).toEqual([]);
    }
    expect(processes.every(alive)).toBe(true);
    expect(processes.map((p) => p.stderr()).join('')).toBe('');
  });

  it('without persistence: the lost history ends the streams and every resuming client gets a stale gap', async () => {
    const [a, b, c] = (await setup(false)) as [HubProcess, HubProcess, HubProcess];
    const watchers = connect([
      [a, 'p'],
      [b, 'p,q'],
      [c, 'q'],
    ]);
    await Promise.all(watchers.map((w) => w.until(() => w.opens === 1, 'open')));
    const before = await a.publish(['p', 'q'], 4);
    await Promise.all(
      watchers.map((w) => w.until(() => w.ids().length >= 2, 'events before the outage')),
    );
    await watchers[1]!.until(() => watchers[1]!.ids().length === 4, 'all four on B');

    await redis!.kill();
    await redis!.start();
    for (const w of watchers) {
      await w.until(() => w.events.some((e) => e.type === 'ssekit-gap'), 'the gap signal', 15_000);
    }
    const after = await b.publish(['p', 'q'], 4);
    expect(after.status).toBe(200);
    const oldEpoch = parseEventId(before.ids[0]!)!.epoch;
    const newEpoch = parseEventId(after.ids[0]!)!.epoch;
    expect(newEpoch).not.toBe(oldEpoch);
    const channelsOf = ['p', 'p,q', 'q'];
    for (const [i, w] of watchers.entries()) {
      const channels = channelsOf[i]!.split(',');
      const mineBefore = before.events.filter((e) => channels.includes(e.channel)).map((e) => e.id);
      const mineAfter = after.events.filter((e) => channels.includes(e.channel)).map((e) => e.id);
      await w.until(
        () => w.ids().length === mineBefore.length + mineAfter.length,
        'the new events',
      );
      const gaps = w.events.filter((e) => e.type === 'ssekit-gap');
      expect(gaps).toHaveLength(1);
      expect(JSON.parse(gaps[0]!.data)).toMatchObject({
        reason: 'stale',
        lastEventId: mineBefore.at(-1),
      });
      // Old history, then the signal, then the new history: never a silent jump between them.
      const types = w.events.map((e) =>
        e.type === 'ssekit-gap' ? 'gap' : parseEventId(e.lastEventId)!.epoch,
      );
      expect(types).toEqual([
        ...mineBefore.map(() => oldEpoch),
        'gap',
        ...mineAfter.map(() => newEpoch),
      ]);
      expect(w.ids()).toEqual([...mineBefore, ...mineAfter]);
    }
    expect(processes.every(alive)).toBe(true);
  });
});
