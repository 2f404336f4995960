/** Redis going away is a fault, not a crash: clear errors, no queue, reconnect, resume. */
import { ChannelClosedError, parseEventId, StoreUnavailableError } from '@ssekit/core';
import { type RedisStore, RedisUnavailableError, redisStore } from '@ssekit/redis';
import { cleanupAfterEach, redisServerWithAdmin, StoreRecorder } from '@ssekit/test-support';
import { expect, it } from 'vitest';

const cleanups = cleanupAfterEach();

function redisServer(persistence = true) {
  return redisServerWithAdmin(cleanups, { persistence });
}

function open(url: string, options: Parameters<typeof redisStore>[0] = {}): RedisStore {
  const store = redisStore({ url, prefix: 'f:', retryDelay: () => 50, ...options });
  cleanups.push(() => store.close());
  return store;
}

it('rejects at once, with a clear error, when Redis is not there at startup', async () => {
  const { server } = await redisServer(false);
  await server.kill();
  const store = open(server.url);
  const error = await store.append('a', 'data: x\n', undefined).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RedisUnavailableError);
  expect((error as Error).message).toMatch(/^ssekit\/redis: Redis is unavailable.*cannot publish$/);
  await expect(store.readAfter(['a'], undefined)).rejects.toBeInstanceOf(RedisUnavailableError);
  // It keeps trying, and works once Redis is up.
  await server.start();
  await expect.poll(() => store.stats().status, { timeout: 5000 }).toBe('ready');
  expect(parseEventId(await store.append('a', 'data: x\n', undefined))?.seq).toBe(1);
});

it('fails publishes fast during an outage, queues nothing, and carries on after the restart', async () => {
  const { server } = await redisServer(true);
  const publisher = open(server.url);
  const subscriber = open(server.url);
  const recorder = new StoreRecorder();
  await subscriber.subscribe('live', recorder);
  const before = await publisher.append('live', 'data: 1\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'first event');

  // Publishes in flight when Redis dies settle too: each either made it or says Redis is gone.
  const inFlight = Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => publisher.append('live', `data: f${i}\n`, undefined)),
  );
  await server.kill();
  const settled = await inFlight;
  const accepted = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  for (const s of settled)
    if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(RedisUnavailableError);

  await expect.poll(() => publisher.stats().status).toBe('reconnecting');
  await expect(publisher.append('live', 'data: 2\n', undefined)).rejects.toThrow(
    /Redis is unavailable, status reconnecting.*cannot publish/,
  );
  expect(publisher.stats().lastError).toBeTruthy();

  await server.start();
  await expect.poll(() => publisher.stats().status, { timeout: 5000 }).toBe('ready');
  const after = await publisher.append('live', 'data: 3\n', undefined);
  // Everything Redis acknowledged (persisted with appendfsync always) arrives, once, in order.
  // A publish whose reply was lost in the kill may have been stored too: it was rejected as
  // "unavailable" (outcome unknown), and if stored it arrives like any other event.
  await recorder.until(() => recorder.ids().includes(after), 'the event after the restart');
  const got = recorder.ids();
  const seqs = got.map((id) => parseEventId(id)!.seq);
  expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
  expect(got.filter((id) => [before, ...accepted, after].includes(id))).toEqual([
    before,
    ...accepted,
    after,
  ]);
  expect(got.length - accepted.length - 2).toBeLessThanOrEqual(settled.length - accepted.length);
  expect(recorder.closes).toBe(0);
  expect(subscriber.stats()).toMatchObject({
    readerStatus: 'ready',
    readerPosition: after,
    historyChanges: 0,
  });
});

it('resumes reading exactly where it stopped when its own connection drops', async () => {
  const { server, admin } = await redisServer(false);
  const publisher = open(server.url);
  const subscriber = open(server.url, { retryDelay: () => 300 });
  const recorder = new StoreRecorder();
  await subscriber.subscribe('r', recorder);
  const first = await publisher.append('r', 'data: 0\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'first event');
  const reader = /id=(\d+) [^\n]*name=ssekit-reader/.exec(
    String(await admin.call('CLIENT', 'LIST')),
  )!;
  await admin.call('CLIENT', 'KILL', 'ID', reader[1]!);
  const missed: string[] = [];
  for (let i = 1; i <= 5; i++) missed.push(await publisher.append('r', `data: ${i}\n`, undefined));
  await recorder.until(
    () => recorder.events.length === 6,
    'the events published while it was away',
  );
  expect(recorder.ids()).toEqual([first, ...missed]);
  expect(recorder.closes).toBe(0);
});

it('starts a new epoch when the counter goes back, so reissued ids are never mistaken', async () => {
  const { admin, server } = await redisServer(false);
  const store = open(server.url);
  const recorder = new StoreRecorder();
  await store.subscribe('w', recorder);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await store.append('w', `data: ${i}\n`, undefined));
  await recorder.until(() => recorder.events.length === 5, 'five events');
  // As if Redis restarted from a snapshot taken after the second event (on another channel).
  await admin.set('f:seq', '2');
  const next = await store.append('v', 'data: again\n', undefined);
  const [old, renewed] = [parseEventId(ids[4]!)!, parseEventId(next)!];
  expect(renewed.epoch).not.toBe(old.epoch);
  expect(renewed.seq).toBe(3);
  // A channel whose entries are ahead of the counter still takes new events, after them.
  expect(parseEventId(await store.append('w', 'data: more\n', undefined))!.seq).toBe(6);
  await recorder.until(() => recorder.closes === 1, 'local streams ended');
  const replay = await store.readAfter(['w'], ids[4]);
  expect(replay.gap?.reason).toBe('stale');
  expect(store.stats().historyChanges).toBe(1);
});

it('notices, while reading, that Redis lost its data, and ends the local streams', async () => {
  const { server } = await redisServer(false);
  const store = open(server.url);
  const recorder = new StoreRecorder();
  await store.subscribe('gone', recorder);
  const id = await store.append('gone', 'data: 1\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'first event');
  await server.kill();
  await server.start();
  await recorder.until(() => recorder.closes === 1, 'history loss noticed by the reader');
  expect(store.stats().historyChanges).toBe(1);
  // The reader may be back before the command connection is.
  await store.ready();
  const replay = await store.readAfter(['gone'], id);
  expect(replay).toMatchObject({ events: [], gap: { reason: 'stale', oldestId: null } });
});

it('is a StoreUnavailableError with a stable code, so the hub and adapters recognise it', async () => {
  const { server } = await redisServer(false);
  await server.kill();
  const error = await open(server.url)
    .append('a', 'data: x\n', undefined)
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RedisUnavailableError);
  expect(error).toBeInstanceOf(StoreUnavailableError);
  expect(error).toMatchObject({ name: 'RedisUnavailableError', code: 'SSEKIT_REDIS_UNAVAILABLE' });
});

it('rejects a publish to a closed channel with ChannelClosedError', async () => {
  const { server } = await redisServer(false);
  const store = open(server.url);
  await store.closeChannel('gone');
  const error = await store.append('gone', 'data: x\n', undefined).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ChannelClosedError);
  expect(error).toMatchObject({ code: 'SSEKIT_CHANNEL_CLOSED', channel: 'gone' });
});

it('never issues an id twice after a restart from an older snapshot, and every resume is told stale', async () => {
  const { server, admin } = await redisServer(false);
  // S reconnects later than W: W's publishes after the restart come first (the worst case).
  const w = open(server.url);
  const s = open(server.url, { retryDelay: () => 400 });
  const onS = new StoreRecorder();
  await s.subscribe('ch', onS);
  const fromW: string[] = [];
  for (let i = 1; i <= 5; i++) fromW.push(await w.append('ch', `data: w${i}\n`, undefined));
  await admin.call('SAVE');
  const fromS: string[] = [];
  for (let i = 6; i <= 10; i++) fromS.push(await s.append('ch', `data: s${i}\n`, undefined));
  await onS.until(() => onS.events.length === 10, "all ten on S's reader");
  expect(onS.ids()).toEqual([...fromW, ...fromS]);

  await server.kill();
  await server.start();
  await w.ready();
  const again: string[] = [];
  for (let i = 1; i <= 5; i++) again.push(await w.append('ch', `data: again${i}\n`, undefined));
  // No id handed out before is handed out again, and the counter did not restart.
  expect(again.filter((id) => [...fromW, ...fromS].includes(id))).toEqual([]);
  expect(again.map((id) => parseEventId(id)!.seq)).toEqual([6, 7, 8, 9, 10]);
  // S's open streams end (their clients come back and resume).
  await onS.until(() => onS.closes === 1, "S's streams ended");
  await s.ready();
  // S's client held all ten: the last five are gone. It is told so, and gets only what is new.
  const resumed = await s.readAfter(['ch'], fromS[4]);
  expect(resumed.gap).toMatchObject({ reason: 'stale', channels: { ch: { reason: 'stale' } } });
  expect(resumed.events.map((e) => e.id)).toEqual(again);
  // A client that was behind (at w3) can't know what it missed either: stale too, positioned.
  const behind = await s.readAfter(['ch'], fromW[2]);
  expect(behind.gap?.reason).toBe('stale');
  expect(behind.events.map((e) => parseEventId(e.id)!.seq)).toEqual([4, 5, 6, 7, 8, 9, 10]);
  expect(w.stats().historyChanges + s.stats().historyChanges).toBeGreaterThanOrEqual(2);
});

it('carries the epoch over whole after a restart with AOF fsync always: streams stay open, resumes are exact', async () => {
  const { server } = await redisServer(true);
  const w = open(server.url);
  const s = open(server.url);
  const onS = new StoreRecorder();
  await s.subscribe('ch', onS);
  const before: string[] = [];
  for (let i = 0; i < 5; i++) before.push(await w.append('ch', `data: ${i}\n`, undefined));
  await onS.until(() => onS.events.length === 5, 'five before the restart');
  await server.kill();
  await server.start();
  await w.ready();
  const after: string[] = [];
  for (let i = 0; i < 3; i++) after.push(await w.append('ch', `data: after${i}\n`, undefined));
  // A new epoch (this server can't vouch for the old counter by itself), but the history is whole.
  expect(parseEventId(after[0]!)!.epoch).not.toBe(parseEventId(before[0]!)!.epoch);
  expect(after.map((id) => parseEventId(id)!.seq)).toEqual([6, 7, 8]);
  await onS.until(() => onS.events.length === 8, 'the events after the restart');
  expect(onS.ids()).toEqual([...before, ...after]);
  expect(onS.closes).toBe(0);
  const resumed = await s.readAfter(['ch'], before[2]);
  expect(resumed.gap).toBeUndefined();
  expect(resumed.events.map((e) => parseEventId(e.id)!.seq)).toEqual([4, 5, 6, 7, 8]);
  expect(s.stats()).toMatchObject({ historyChanges: 0, epochsCarriedOver: 1 });
});

it('makes earlier ids stale after FLUSHALL, for every process', async () => {
  const { server, admin } = await redisServer(true);
  const store = open(server.url);
  const old = await store.append('f', 'data: 1\n', undefined);
  await admin.flushall();
  const next = await store.append('f', 'data: 2\n', undefined);
  expect(parseEventId(next)!.epoch).not.toBe(parseEventId(old)!.epoch);
  const other = open(server.url);
  const replay = await other.readAfter(['f'], old);
  expect(replay.gap?.reason).toBe('stale');
  expect(replay.events.map((e) => e.id)).toEqual([next]);
});

it('times out on a hung Redis: publish and subscribe reject, stats say degraded, and all clears after', async () => {
  const { server } = await redisServer(false);
  const store = open(server.url, { commandTimeout: 300, blockMs: 200 });
  const recorder = new StoreRecorder();
  await store.subscribe('h', recorder);
  await store.append('h', 'data: before\n', undefined);
  await recorder.until(() => recorder.events.length === 1, 'the first event');
  server.pause();
  try {
    const started = Date.now();
    const error = await store.append('h', 'data: hung\n', undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toMatch(/status degraded.*cannot publish$/);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(store.stats()).toMatchObject({ status: 'degraded', lastError: expect.any(String) });
    // A subscription to a new channel can't complete either: it fails, leaving no tap behind.
    await expect(store.subscribe('h2', new StoreRecorder())).rejects.toBeInstanceOf(
      RedisUnavailableError,
    );
    expect(store.stats().channels).toBe(1);
    await expect.poll(() => store.stats().readerStatus, { timeout: 5_000 }).toBe('degraded');
  } finally {
    server.resume();
  }
  const after = await store.append('h', 'data: after\n', undefined);
  expect(store.stats()).toMatchObject({ status: 'ready', lastError: null });
  // The publish that timed out was sent: it ran once Redis resumed (at least once, never lost).
  await recorder.until(() => recorder.ids().includes(after), 'the event after the hang');
  expect(recorder.events.map((e) => e.frame.toString().split('\n')[1])).toEqual([
    'data: before',
    'data: hung',
    'data: after',
  ]);
  await expect.poll(() => store.stats().readerStatus, { timeout: 5_000 }).toBe('ready');
  const late = new StoreRecorder();
  await store.subscribe('h2', late);
  const id = await store.append('h2', 'data: x\n', undefined);
  await late.until(() => late.ids().includes(id), 'the new channel works');
});

it('leaves nothing behind when a subscribe fails during an outage; the next one succeeds', async () => {
  const { server } = await redisServer(false);
  const store = open(server.url);
  await store.append('warm', 'data: x\n', undefined);
  await server.kill();
  await expect.poll(() => store.stats().status).toBe('reconnecting');
  await expect(store.subscribe('p', new StoreRecorder())).rejects.toBeInstanceOf(
    RedisUnavailableError,
  );
  expect(store.stats().channels).toBe(0);
  await server.start();
  await store.ready();
  const recorder = new StoreRecorder();
  await store.subscribe('p', recorder);
  const id = await store.append('p', 'data: y\n', undefined);
  await recorder.until(() => recorder.ids().includes(id), 'delivery after the outage');
});

it('reads the seq it saw with the epoch it sends: learning a new epoch while a publish waits to be sent starts no needless one', async () => {
  const { server, admin } = await redisServer(false);
  const a = open(server.url);
  for (let i = 0; i < 10; i++) await a.append('x', `data: ${i}\n`, undefined);
  await admin.flushall();
  // Another process publishes first: a new epoch, its counter at 1.
  const b = open(server.url);
  const next = parseEventId(await b.append('y', 'data: b\n', undefined))!;
  // A's publish is queued; before it is sent, A learns the new epoch, as its reader does from
  // a read that came back meanwhile (white box: the reader's call, made at that moment).
  const epochs = (
    a as unknown as { epochs: { observe(e: string, head: number, base: number): unknown } }
  ).epochs;
  const publishing = a.append('z', 'data: a\n', undefined);
  queueMicrotask(() => epochs.observe(next.epoch, next.seq, -1));
  // The seq A saw before (10) is not this epoch's: the counter (1) did not go back.
  expect(parseEventId(await publishing)).toEqual({ epoch: next.epoch, seq: next.seq + 1 });
  expect(a.stats().historyChanges).toBe(1);
});

it('clears degraded by itself once a hung Redis answers again, with no publish to notice it', async () => {
  const { server } = await redisServer(false);
  const store = open(server.url, { commandTimeout: 300 });
  await store.append('q', 'data: before\n', undefined);
  server.pause();
  try {
    await expect(store.append('q', 'data: hung\n', undefined)).rejects.toBeInstanceOf(
      RedisUnavailableError,
    );
    expect(store.stats().status).toBe('degraded');
  } finally {
    server.resume();
  }
  // Nothing else is sent by the test: a health check polling stats must see it recover.
  await expect.poll(() => store.stats().status, { timeout: 5_000 }).toBe('ready');
  expect(store.stats().lastError).toBeNull();
});

it('a reply from an epoch this process already left does not count its seq as seen in the new one', async () => {
  const { server } = await redisServer(false);
  const a = open(server.url);
  for (let i = 0; i < 10; i++) await a.append('x', `data: ${i}\n`, undefined);
  // White box: the epoch tracker, as the reader would drive it, and the seq it would send.
  const inside = a as unknown as {
    commands: unknown;
    epochs: {
      observe(epoch: string, head: number, base: number): unknown;
      vouch(conn: unknown): Promise<{ seen: number }>;
    };
  };
  const closing = a.closeChannel('x');
  // Before the close's reply (from the epoch it ran in) comes back, the process moves on.
  inside.epochs.observe('another-epoch', 1, -1);
  await closing;
  expect((await inside.epochs.vouch(inside.commands)).seen).toBe(1);
});
