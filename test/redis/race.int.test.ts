/**
 * The publish/replay race across processes: two processes publish in tight loops while 20
 * clients keep reconnecting, each time to a random process. Every client must see every event of
 * its channels exactly once, in id order.
 */
import { parseEventId } from '@ssekit/core';
import { type RedisServer, startRedisServer } from '@ssekit/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type HubProcess,
  type PublishedEvent,
  type RoutedClient,
  routedClient,
  startHubProcess,
} from './hub-processes.js';

let redis: RedisServer;
let processes: HubProcess[] = [];
const clients: RoutedClient[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  processes = await Promise.all(
    ['A', 'B', 'C'].map((name) => startHubProcess(name, redis.url, 'race:')),
  );
});
afterAll(async () => {
  for (const watched of clients) watched.close();
  await Promise.all(processes.map((p) => p.stop()));
  await redis?.stop();
});

const seqOf = (id: string): number => parseEventId(id)!.seq;

it('loses and repeats nothing while two processes publish and 20 clients reconnect at random', async () => {
  const [a, b] = processes as [HubProcess, HubProcess, HubProcess];
  const channelSets = ['r1', 'r1,r2', 'r2,r3', 'r1,r2,r3'];
  for (let i = 0; i < 20; i++) {
    const pick = (): HubProcess => processes[Math.floor(Math.random() * processes.length)]!;
    clients.push(routedClient(channelSets[i % channelSets.length]!, pick));
  }
  await Promise.all(clients.map((c) => c.until(() => c.opens === 1, 'open')));
  const perProcess = 1200;
  const bursts = Promise.all([
    a.publish(['r1', 'r2', 'r3'], perProcess),
    b.publish(['r2', 'r1'], perProcess),
  ]);
  let finished = false;
  void bursts.finally(() => {
    finished = true;
  });
  // Drop every socket on every process each time the clients have made some progress, for as
  // long as the publishers run: the reconnects race the publishes.
  const received = (): number => clients.reduce((sum, c) => sum + c.ids().length, 0);
  let drops = 0;
  while (!finished && drops < 12) {
    const mark = received();
    // The predicate is re-checked on clients[0]'s events, so also stop waiting when publishing ends.
    const progress = clients[0]!.until(
      () => finished || received() >= mark + 400,
      'progress',
      20_000,
    );
    progress.catch(() => {}); // if bursts win the race, a later time-out must not go unhandled
    await Promise.race([bursts, progress]);
    if (finished) break;
    await Promise.all(processes.map((p) => p.drop()));
    drops++;
  }
  const results = await bursts;
  for (const result of results) expect(result.status).toBe(200);
  const published: PublishedEvent[] = results.flatMap((r) => r.events);
  expect(published).toHaveLength(2 * perProcess);
  expect(drops).toBeGreaterThanOrEqual(2);
  for (const [i, watched] of clients.entries()) {
    const channels = channelSets[i % channelSets.length]!.split(',');
    const mine = published
      .filter((e) => channels.includes(e.channel))
      .map((e) => e.id)
      .sort((x, y) => seqOf(x) - seqOf(y));
    await watched.until(() => watched.ids().length >= mine.length, `client ${i} caught up`, 20_000);
    expect(watched.ids()).toEqual(mine);
    expect(watched.events.filter((e) => e.type === 'ssekit-gap')).toEqual([]);
  }
  // Clients really moved between processes.
  const visited = new Set(clients.flatMap((c) => c.connections.map((x) => x.process)));
  expect(visited).toEqual(new Set(['A', 'B', 'C']));
  expect(clients.every((c) => c.connections.length >= 2)).toBe(true);
});
