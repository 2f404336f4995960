/**
 * A run's channel is followed alone, so this process delivers its own appends as soon as Redis
 * stored them (no read back), and doesn't read back the channels it alone writes (reader.ts,
 * `echo`). These tests pin that it stays exact when another process writes to such a channel too.
 */
import { parseEventId } from '@ssekit/core/store';
import { type RedisStore, redisStore } from '@ssekit/redis';
import { type RedisServer, runClaim, StoreRecorder, startRedisServer } from '@ssekit/test-support';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';

let server: RedisServer;
const stores: RedisStore[] = [];
let prefixCount = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** Two stores on one prefix: two processes. */
function pair(): [RedisStore, RedisStore] {
  const prefix = `own${++prefixCount}:`;
  const open = (): RedisStore => {
    const store = redisStore({ url: server.url, prefix });
    stores.push(store);
    return store;
  };
  return [open(), open()];
}

const CHANNEL = 'ssekit:run:k';
const seqs = (recorder: StoreRecorder): number[] =>
  recorder.events.map((event) => parseEventId(event.id)!.seq);
const bodies = (recorder: StoreRecorder): string[] =>
  recorder.events.map((event) => event.frame.toString().split('\n')[1]!);

it("delivers this process's appends without reading them back, interleaved with another's, exact and in order", async () => {
  const [a, b] = pair();
  const recorder = new StoreRecorder();
  await a.subscribe(CHANNEL, recorder, { channelOrderOnly: true });
  const ids: string[] = [];
  for (let round = 0; round < 50; round++) {
    // Several of A's in one batch, then one of B's, in flight together.
    ids.push(
      ...(await Promise.all([
        a.append(CHANNEL, `data: a${round}.0`, undefined),
        a.append(CHANNEL, `data: a${round}.1`, undefined),
        b.append(CHANNEL, `data: b${round}`, undefined),
      ])),
    );
  }
  await recorder.until(() => recorder.events.length >= 150, '150 events');
  const sorted = ids.map((id) => parseEventId(id)!.seq).sort((x, y) => x - y);
  expect(seqs(recorder)).toEqual(sorted);
  expect(new Set(bodies(recorder)).size).toBe(150);
  expect(a.stats().deliveredOnAppend).toBeGreaterThan(0);
});

it('a channel this process alone writes (its run) is not read back; once another process writes to it, the next reserved id is refused and the rest is read', async () => {
  const [a, b] = pair();
  const claimed = await a.runs.claim(runClaim('k'));
  expect(claimed?.status).toBe('running');
  const recorder = new StoreRecorder();
  await a.subscribe(CHANNEL, recorder, { channelOrderOnly: true });
  // (Until the reader's first read, it can't vouch for the epoch: those go by read.)
  for (let i = 0; i < 10; i++) await a.append(CHANNEL, `data: a${i}`, undefined);
  await recorder.until(() => recorder.events.length === 10, "A's first 10");
  const before = a.stats();
  for (let i = 10; i < 20; i++) await a.append(CHANNEL, `data: a${i}`, undefined);
  await recorder.until(() => recorder.events.length === 20, "A's 20");
  expect(a.stats().deliveredOnAppend - before.deliveredOnAppend).toBe(10);
  expect(a.stats().deliveredOnRead).toBe(before.deliveredOnRead);
  // Another process writes to it (as when A's lease lapsed and B ended the run as interrupted):
  // A's next event, made under an id reserved before B's, can't be stored after B's. Its
  // follower here got it as it was made; from then on Redis gives the ids and A reads the
  // channel again, so B's event and A's later ones arrive, in order.
  await b.append(CHANNEL, 'data: from b', undefined);
  await expect(a.append(CHANNEL, 'data: a20', undefined)).rejects.toThrow(/SSEKIT_STALE/);
  await a.append(CHANNEL, 'data: a21', undefined);
  await recorder.until(() => recorder.events.length === 23, 'all 23');
  expect(bodies(recorder).slice(-3)).toEqual(['data: a20', 'data: from b', 'data: a21']);
  const all = seqs(recorder);
  expect(all).toEqual([...all].sort((x, y) => x - y));
  // Not stored: a follower elsewhere never gets it.
  const stored = (await b.readAfter([CHANNEL], claimed!.startId)).events;
  expect(stored.map((e) => e.frame.toString().split('\n')[1])).toEqual([
    ...Array.from({ length: 20 }, (_, i) => `data: a${i}`),
    'data: from b',
    'data: a21',
  ]);
});

it('a producer that lost its lease stops counting the run, and reads its channel again', async () => {
  const [a, b] = pair();
  const recorder = new StoreRecorder();
  const claim = runClaim('lost', { leaseMs: 50 });
  expect(await a.runs.claim(claim)).not.toBeNull();
  expect(a.runs.count()).toBe(1);
  await a.subscribe(claim.channel, recorder, { channelOrderOnly: true });
  // B finds the lease passed (its clock is Redis's) and ends the run as interrupted.
  const until = Date.now() + 5_000;
  while (!(await b.runs.interrupt('lost'))) {
    if (Date.now() > until) throw new Error('the lease never lapsed');
  }
  expect(await a.runs.renew('lost', 'process-a', 50)).toBeNull();
  expect(a.runs.count()).toBe(0);
  // What B wrote (the interrupted end) reaches A's followers though A writes nothing more.
  await b.append(claim.channel, 'data: the end', undefined);
  await recorder.until(() => recorder.events.length === 1, "B's event on A");
  expect(bodies(recorder)).toEqual(['data: the end']);
});

it('closing a run channel this process writes alone ends its local streams (the close marker is read)', async () => {
  const [a] = pair();
  const claim = runClaim('shut');
  expect(await a.runs.claim(claim)).not.toBeNull();
  const recorder = new StoreRecorder();
  await a.subscribe(claim.channel, recorder, { channelOrderOnly: true });
  await a.append(claim.channel, 'data: one', undefined);
  await recorder.until(() => recorder.events.length === 1, 'one event');
  await a.closeChannel(claim.channel);
  await recorder.until(() => recorder.closes === 1, 'closed');
});

it("a run's terminal event is stored at the end of its task, not after the wait for company of delivered tokens", async () => {
  const [a] = pair();
  await a.runs.claim(runClaim('k'));
  const recorder = new StoreRecorder();
  await a.subscribe(CHANNEL, recorder, { channelOrderOnly: true });
  // Reserved ids, delivered as made (the first ones may go by read, see above).
  for (let i = 0; i < 3; i++) await a.append(CHANNEL, `data: a${i}`, undefined);
  await recorder.until(() => recorder.events.length === 3, 'the first 3');
  const before = a.stats().appendCalls;
  const token = a.append(CHANNEL, 'data: last', undefined);
  const end = a.append(CHANNEL, 'data: {"reason":"done"}', 'done');
  // A loop turn's end comes before the 5 ms wait can: by then the call must have gone.
  await new Promise((resolve) => setImmediate(resolve));
  expect(a.stats().appendCalls - before).toBe(1);
  await Promise.all([token, end]);
});
