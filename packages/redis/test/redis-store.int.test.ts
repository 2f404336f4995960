/** The Redis store on its own, against a real redis-server: ids, fan-out, replay and gaps. */
import { parseEventId } from '@ssekit/core';
import { type RedisStore, redisStore } from '@ssekit/redis';
import { type RedisServer, StoreRecorder, startRedisServer } from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let server: RedisServer;
let admin: Redis;
const stores: RedisStore[] = [];
let prefixCount = 0;

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

function open(
  options: Parameters<typeof redisStore>[0] = {},
  prefix = `t${++prefixCount}:`,
): RedisStore {
  const store = redisStore({ url: server.url, prefix, ...options });
  stores.push(store);
  return store;
}
const seqOf = (id: string): number => parseEventId(id)!.seq;

describe('redis store', () => {
  it('keeps what is published after reopenChannel: the close-time expiry is lifted', async () => {
    const prefix = 'reopen:';
    const store = open({}, prefix);
    await store.append('room', 'data: 1\n', undefined);
    await store.closeChannel('room');
    expect(await admin.pttl(`${prefix}s:room`)).toBeGreaterThan(0);
    await store.reopenChannel('room');
    expect(await store.isClosed('room')).toBe(false);
    await store.append('room', 'data: 2\n', undefined);
    expect(await admin.pttl(`${prefix}s:room`)).toBe(-1);
  });

  it('issues <epoch>-<seq> ids from one counter across channels', async () => {
    const store = open();
    const a = await store.append('a', 'data: 1\n', undefined);
    const b = await store.append('b', 'data: 2\n', 'tick');
    const c = await store.append('a', 'data: 3\n', undefined);
    const [pa, pb, pc] = [a, b, c].map((id) => parseEventId(id)!);
    expect(pa!.epoch).toBe(pb!.epoch);
    expect([pa!.seq, pb!.seq, pc!.seq]).toEqual([1, 2, 3]);
    // A second store with the same prefix is the same history: same epoch, next seq.
    const other = open({}, 't1:');
    expect(parseEventId(await other.append('c', 'data: 4\n', undefined))).toEqual({
      epoch: pa!.epoch,
      seq: 4,
    });
  });

  it('delivers every event appended after subscribe resolves, exactly once, with the right frame', async () => {
    const publisher = open();
    const subscriber = open({}, `t${prefixCount}:`);
    await publisher.append('room', 'data: before\n', undefined);
    const recorder = new StoreRecorder();
    await subscriber.subscribe('room', recorder);
    const id = await publisher.append('room', 'event: chat\ndata: hello\n', 'chat');
    await recorder.until(() => recorder.events.length === 1, 'the event');
    const [event] = recorder.events;
    expect(event).toMatchObject({ channel: 'room', id, seq: seqOf(id), event: 'chat' });
    expect(event!.frame.toString()).toBe(`id: ${id}\nevent: chat\ndata: hello\n\n`);
    const more: string[] = [];
    for (let i = 0; i < 50; i++)
      more.push(await publisher.append('room', `data: ${i}\n`, undefined));
    await recorder.until(() => recorder.events.length === 51, 'fifty more');
    expect(recorder.ids()).toEqual([id, ...more]);
  });

  it('merges channels in id order and reads them all with one connection', async () => {
    const publisher = open();
    const subscriber = open({}, `t${prefixCount}:`);
    const recorders = Array.from({ length: 200 }, () => new StoreRecorder());
    for (const [i, recorder] of recorders.entries()) await subscriber.subscribe(`ch${i}`, recorder);
    const all = new StoreRecorder();
    await subscriber.subscribe('all', all);
    const ids = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        publisher.append(`ch${i % 200}`, `data: ${i}\n`, undefined),
      ),
    );
    await Promise.all(
      recorders.map((r, i) => r.until(() => r.events.length === 2, `channel ${i}`)),
    );
    for (const [i, recorder] of recorders.entries()) {
      expect(recorder.ids()).toEqual([ids[i], ids[i + 200]].sort((x, y) => seqOf(x!) - seqOf(y!)));
    }
    // Two connections per store, whatever the number of channels: commands and the one reader.
    const clients = String(await admin.call('CLIENT', 'LIST'));
    expect(clients.match(/name=ssekit-reader/g)).toHaveLength(1);
    expect(subscriber.stats()).toMatchObject({ kind: 'redis', status: 'ready', channels: 201 });
  });

  it('delivers the events of several channels to one process in global id order', async () => {
    const publisher = open({ readCount: 5 });
    const subscriber = open({ readCount: 5 }, `t${prefixCount}:`);
    const seen: number[] = [];
    const listener = (recorder: StoreRecorder) => ({
      event: (e: Parameters<StoreRecorder['event']>[0]) => {
        seen.push(e.seq);
        recorder.event(e);
      },
      closed: () => recorder.closed(),
    });
    const x = new StoreRecorder();
    const y = new StoreRecorder();
    await subscriber.subscribe('x', listener(x));
    await subscriber.subscribe('y', listener(y));
    // Uneven bursts with a small COUNT: a capped stream must not let the other run ahead.
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        publisher.append(i % 4 ? 'x' : 'y', 'data: .\n', undefined),
      ),
    );
    await x.until(() => x.events.length + y.events.length === 60, 'all sixty');
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('replays after an id, merged across channels, with the snapshot head', async () => {
    const store = open();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(await store.append(i % 2 ? 'odd' : 'even', `data: ${i}\n`, undefined));
    const result = await store.readAfter(['odd', 'even'], ids[1]);
    expect(result.gap).toBeUndefined();
    expect(result.events.map((e) => e.id)).toEqual(ids.slice(2));
    expect(result.events[0]!.frame.toString()).toBe(`id: ${ids[2]}\ndata: 2\n\n`);
    expect(result).toMatchObject({ headId: ids[5], headSeq: 6 });
    const fresh = await store.readAfter(['odd'], undefined);
    expect(fresh).toEqual({ events: [], headId: ids[5], headSeq: 6 });
  });

  it('signals evicted, unknown and stale ids with the oldest id still held', async () => {
    const store = open({ maxEvents: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await store.append('t', `data: ${i}\n`, undefined));
    const { epoch } = parseEventId(ids[0]!)!;
    const evicted = await store.readAfter(['t'], ids[0]);
    expect(evicted.gap).toEqual({
      reason: 'evicted',
      oldestId: ids[3],
      channels: { t: { reason: 'evicted', oldestId: ids[3] } },
    });
    expect(evicted.events.map((e) => e.id)).toEqual(ids.slice(3));
    // Right at the edge of what is held: exact, no gap.
    expect((await store.readAfter(['t'], ids[2])).gap).toBeUndefined();
    expect((await store.readAfter(['t'], `${epoch}-99`)).gap).toMatchObject({
      reason: 'unknown',
      oldestId: ids[3],
    });
    expect((await store.readAfter(['t'], 'nonsense')).gap?.reason).toBe('unknown');
    expect((await store.readAfter(['t'], 'zzzz-2')).gap).toEqual({
      reason: 'stale',
      oldestId: ids[3],
      channels: { t: { reason: 'stale', oldestId: ids[3] } },
    });
    // A channel that never had anything is not a gap.
    expect((await store.readAfter(['empty'], ids[5])).gap).toBeUndefined();
  });

  it('tells per channel which replayed ranges are complete when only one channel lost events', async () => {
    const store = open({ maxEvents: 2 });
    const quiet = await store.append('quiet', 'data: q\n', undefined);
    const busy: string[] = [];
    for (let i = 0; i < 5; i++) busy.push(await store.append('busy', `data: ${i}\n`, undefined));
    const later = await store.append('quiet', 'data: q2\n', undefined);
    const result = await store.readAfter(['quiet', 'busy', 'never'], busy[0]);
    expect(result.gap).toEqual({
      // The old fields: the minimum over the channels, which alone can't say what is complete.
      reason: 'evicted',
      oldestId: quiet,
      channels: {
        // Both of its events are still held: everything after busy[0] is there.
        quiet: { reason: null, oldestId: quiet },
        busy: { reason: 'evicted', oldestId: busy[3] },
        never: { reason: null, oldestId: null },
      },
    });
    expect(result.events.map((e) => e.id)).toEqual([busy[3], busy[4], later]);
  });

  it('bounds each channel by bytes, keeping at least one event', async () => {
    const store = open({ maxBytes: 200 });
    const body = `data: ${'x'.repeat(60)}\n`;
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await store.append('b', body, undefined));
    const held = await store.readAfter(['b'], ids[0]);
    const bytes = held.events.reduce((sum, e) => sum + e.frame.length, 0);
    expect(bytes).toBeLessThanOrEqual(200);
    expect(held.events.length).toBeGreaterThan(0);
    expect(held.events.at(-1)!.id).toBe(ids[9]);
    expect(held.gap?.reason).toBe('evicted');
    const huge = await store.append('b', `data: ${'y'.repeat(500)}\n`, undefined);
    expect((await store.readAfter(['b'], ids[9])).events.map((e) => e.id)).toEqual([huge]);
  });

  it('bounds each channel by age, counting aged-out events as evicted', async () => {
    const store = open({ maxAgeMs: 50 });
    const first = await store.append('aged', 'data: old\n', undefined);
    await store.append('aged', 'data: old too\n', undefined);
    await redisTimePassed(60);
    const fresh = await store.append('aged', 'data: new\n', undefined);
    const result = await store.readAfter(['aged'], first);
    expect(result.gap).toEqual({
      reason: 'evicted',
      oldestId: fresh,
      channels: { aged: { reason: 'evicted', oldestId: fresh } },
    });
    expect(result.events.map((e) => e.id)).toEqual([fresh]);
    await redisTimePassed(60);
    // Nothing new was published: the read itself drops what aged out.
    const empty = await store.readAfter(['aged'], first);
    expect(empty).toMatchObject({ events: [], gap: { reason: 'evicted', oldestId: null } });
  });

  it('closes a channel for every process: isClosed, the listener, and a rejected append', async () => {
    const a = open();
    const b = open({}, `t${prefixCount}:`);
    const onB = new StoreRecorder();
    await b.subscribe('room', onB);
    const last = await a.append('room', 'data: last\n', undefined);
    await a.closeChannel('room');
    await onB.until(() => onB.closes === 1, 'closed on the other store');
    expect(onB.ids()).toEqual([last]);
    expect(await b.isClosed('room')).toBe(true);
    expect(await b.isClosed('other')).toBe(false);
    await expect(b.append('room', 'data: late\n', undefined)).rejects.toThrow(
      'ssekit: channel "room" is closed',
    );
  });

  it('ends the local streams when entries were trimmed before the reader got to them', async () => {
    const publisher = open({ maxEvents: 3 });
    const subscriber = open({ maxEvents: 3, retryDelay: () => 300 }, `t${prefixCount}:`);
    const recorder = new StoreRecorder();
    await subscriber.subscribe('lag', recorder);
    const first = await publisher.append('lag', 'data: 0\n', undefined);
    await recorder.until(() => recorder.events.length === 1, 'first event');
    // Cut the reader off; while it waits to reconnect, more is published than the stream keeps.
    const reader = /id=(\d+) [^\n]*name=ssekit-reader/.exec(
      String(await admin.call('CLIENT', 'LIST')),
    )!;
    await admin.call('CLIENT', 'KILL', 'ID', reader[1]!);
    for (let i = 1; i <= 10; i++)
      await publisher.append('lag', `data: ${i}\n`, undefined).catch(() => undefined);
    await recorder.until(() => recorder.closes === 1, 'the gap noticed');
    expect(recorder.ids()[0]).toBe(first);
  });

  it('lets the process exit: close() quits both connections', async () => {
    const store = open();
    await store.subscribe('c', new StoreRecorder());
    await expect.poll(() => store.stats().readerStatus).toBe('ready');
    const name = 'ssekit-';
    const count = async () =>
      (String(await admin.call('CLIENT', 'LIST')).match(new RegExp(name, 'g')) ?? []).length;
    const before = await count();
    await store.close();
    await expect.poll(count).toBe(before - 2);
    expect(store.stats().status).toBe('closed');
    await expect(store.append('c', 'data: x\n', undefined)).rejects.toThrow(/closed/);
  });
});

/** Waits until Redis's own clock (which stamps and ages entries) has moved on by `ms`. */
async function redisTimePassed(ms: number): Promise<void> {
  const now = async () => {
    const [s, us] = (await admin.call('TIME')) as [string, string];
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };
  const start = await now();
  await expect.poll(now, { interval: 10, timeout: 2000 }).toBeGreaterThan(start + ms);
}
