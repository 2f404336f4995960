/**
 * Faults and limits of the hub and the stream (issue 12): failed joins, per-channel gap detail,
 * the byte bound whatever the batching, write-timeout precision, lossless defaults, double
 * subscribe, and closing while subscriptions are pending.
 */
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import {
  createHub,
  type EventStore,
  type GapNotice,
  type Hub,
  MemoryStore,
  runChannel,
  SseStream,
  StoreUnavailableError,
} from '@ssekit/core';
import type { ReplayResult, StoreListener } from '@ssekit/core/store';
import {
  cleanupAfterEach,
  rawGet as rawClient,
  startCoreServer,
  startSseServer,
  watch,
} from '@ssekit/test-support';
import { describe, expect, it } from 'vitest';

const cleanups = cleanupAfterEach();

function hubFor(options: Parameters<typeof createHub>[0] = {}): Hub {
  const hub = createHub(options);
  cleanups.push(() => hub.close());
  return hub;
}

/** A memory store whose `subscribe` fails while `down` is set: a store that lost its connection. */
class FlakyStore implements EventStore {
  down = false;
  constructor(readonly inner = new MemoryStore()) {}
  append(channel: string, body: string, event: string | undefined): Promise<string> {
    return this.inner.append(channel, body, event);
  }
  readAfter(channels: readonly string[], lastEventId: string | undefined): Promise<ReplayResult> {
    return this.inner.readAfter(channels, lastEventId);
  }
  async subscribe(channel: string, listener: StoreListener): Promise<() => void> {
    if (this.down) throw new StoreUnavailableError('ssekit/test: the store is down');
    return this.inner.subscribe(channel, listener);
  }
  closeChannel(channel: string, final?: Buffer): Promise<void> {
    return this.inner.closeChannel(channel, final);
  }
  reopenChannel(channel: string): Promise<void> {
    return this.inner.reopenChannel(channel);
  }
  isClosed(channel: string): Promise<boolean> {
    return this.inner.isClosed(channel);
  }
  stats() {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A raw HTTP/1.0 client (so the body is not chunked): `socket.pause()` stops reading, and
 * `events()` are the body's events as eventsource-parser reads them.
 */
function rawGet(url: string) {
  const client = rawClient(url, { http10: true });
  cleanups.push(() => client.destroy());
  return client;
}

describe('hub faults', () => {
  it('a failed join leaves nothing behind: the next subscribe after the store is back succeeds', async () => {
    const store = new FlakyStore();
    const hub = hubFor({ store });
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    store.down = true;
    const failed = await fetch(`${server.url}?ch=user-1`);
    expect(failed.status).toBe(500);
    await failed.text();
    expect(hub.stats().clients).toBe(0);
    store.down = false;
    const client = watch(`${server.url}?ch=user-1`);
    cleanups.push(() => client.close());
    await client.until(() => client.opens === 1, 'open after the store came back');
    const id = await hub.publish('user-1', 'hello');
    await client.until(() => client.ids().length === 1, 'the event');
    expect(client.ids()).toEqual([id]);
  });

  it('tells a client on several channels which replayed ranges are complete (byChannel)', async () => {
    const hub = hubFor({ replay: { maxEvents: 2 } });
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const first = await hub.publish('busy', 0);
    await hub.publish('quiet', 'q1');
    for (let i = 1; i <= 3; i++) await hub.publish('busy', i);
    const notices: GapNotice[] = [];
    const client = watch(`${server.url}?ch=busy,quiet&lastEventId=${first}`, ['ssekit-gap']);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length >= 1, 'the gap signal');
    notices.push(JSON.parse(client.events[0]!.data) as GapNotice);
    const [notice] = notices;
    expect(notice!.reason).toBe('evicted');
    expect(notice!.channels).toEqual(['busy', 'quiet']);
    expect(notice!.byChannel.busy!.reason).toBe('evicted');
    expect(notice!.byChannel.quiet).toEqual({ reason: null, oldestId: expect.any(String) });
  });

  it("bounds a client's memory whatever the batching: a tick's 50 MB burst drops a non-reader for overflow", async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub, { writeTimeout: 60_000 });
    cleanups.push(() => server.close());
    const { socket } = rawGet(`${server.url}?ch=burst`);
    await once(socket, 'data');
    socket.pause();
    const stream = server.streams[0]!;
    const body = 'x'.repeat(50 * 1024);
    // One tick: a loop of awaited publishes never yields with the memory store.
    for (let i = 0; i < 1000; i++) await hub.publish('burst', body);
    await stream.whenClosed();
    expect(stream.closeReason).toBe('overflow');
    expect(hub.stats().droppedForOverflow).toBe(1);
  });

  it('hands a slow reader the same shared Buffers as everyone else: its backlog is never copied per client', async () => {
    const hub = hubFor();
    const written: Buffer[][] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      written.push(chunks);
      // Observe what reaches each response (nothing is changed).
      const write = res.write.bind(res) as (chunk: Buffer) => boolean;
      res.write = ((chunk: Buffer) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= 1024) chunks.push(chunk);
        return write(chunk);
      }) as typeof res.write;
      const stream = new SseStream(
        res,
        { heartbeat: false, maxQueueBytes: 8 << 20 },
        { request: req },
      );
      void hub.subscribe(stream, 'wide', { request: req });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
    const slow = rawClient(url);
    const fast = rawClient(url);
    await Promise.all([slow.head, fast.head]);
    slow.socket.pause();
    // One tick of ~1 MB: several pieces; the slow reader queues all but the first.
    const ids: string[] = [];
    for (let i = 0; i < 64; i++) ids.push(await hub.publish('wide', 'y'.repeat(16 * 1024)));
    await fast.until(ids.at(-1)!);
    slow.socket.resume();
    await slow.until(ids.at(-1)!);
    const [first, second] = written as [Buffer[], Buffer[]];
    expect(first.length).toBeGreaterThan(1);
    // Every large Buffer one response got is the very Buffer the other got: shared, not copied.
    const shared = new Set(first);
    expect(second.every((chunk) => shared.has(chunk))).toBe(true);
  });

  it('reaps a stalled peer within 25% of writeTimeout (not up to a whole ticker period late)', async () => {
    // A period no other test uses: the shared ticker starts with this stream.
    const writeTimeout = 1_030;
    const server = await startSseServer({ heartbeat: false, writeTimeout });
    cleanups.push(() => server.close());
    const { socket } = rawGet(server.url);
    await once(socket, 'data');
    socket.pause();
    // The stall begins after the ticker's phase started, as it does for any real client.
    const { stream } = await server.streams.next();
    const stalledAt = Date.now();
    stream.write(Buffer.alloc(8 * 1024 * 1024, 'x'));
    await stream.whenClosed();
    const after = Date.now() - stalledAt;
    expect(stream.closeReason).toBe('timeout');
    expect(after).toBeGreaterThanOrEqual(writeTimeout);
    expect(after).toBeLessThanOrEqual(writeTimeout * 1.25);
  });

  it('keeps the default overflow policy lossless: a reader dropped for overflow resumes exactly', async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const { socket, events } = rawGet(`${server.url}?ch=feed`);
    await once(socket, 'data');
    socket.pause();
    const stream = server.streams[0]!;
    const payload = 'y'.repeat(4000);
    const ids: string[] = [];
    // ~4 KB events, a tick at a time, until the non-reader is dropped...
    while (!stream.closed) {
      for (let i = 0; i < 50; i++) ids.push(await hub.publish('feed', payload));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stream.closeReason).toBe('overflow');
    // ...then a couple of seconds' worth more (500 events/s) before it comes back.
    for (let i = 0; i < 1000; i++) ids.push(await hub.publish('feed', payload));
    const ended = once(socket, 'close');
    socket.resume();
    await ended;
    const lastSeen = events().at(-1)?.id;
    expect(lastSeen).toBeDefined();
    const resumed = watch(`${server.url}?ch=feed&lastEventId=${lastSeen}`, ['ssekit-gap']);
    cleanups.push(() => resumed.close());
    const missed = ids.slice(ids.indexOf(lastSeen!) + 1);
    await resumed.until(() => resumed.events.length >= missed.length, 'the missed events');
    expect(resumed.events.filter((e) => e.type === 'ssekit-gap')).toEqual([]);
    expect(resumed.ids()).toEqual(missed);
  });

  it('refuses a second subscribe on one stream and delivers every event once', async () => {
    const hub = hubFor();
    const errors: unknown[] = [];
    const server = http.createServer((req, res) => {
      const stream = new SseStream(res, { heartbeat: false }, { request: req, hub });
      void hub
        .subscribe(stream, 'a')
        .then(() => hub.subscribe(stream, 'a').catch((error: unknown) => errors.push(error)));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const client = watch(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
    cleanups.push(() => client.close());
    await client.until(() => client.opens === 1 && errors.length === 1, 'open and refused');
    expect((errors[0] as { code?: string }).code).toBe('SSEKIT_ALREADY_SUBSCRIBED');
    const sent = [await hub.publish('a', 1), await hub.publish('a', 2)];
    await client.until(() => client.ids().length >= 2, 'two events');
    await hub.publish('a', 3);
    await client.until(() => client.ids().length >= 3, 'three events');
    expect(client.ids().slice(0, 2)).toEqual(sent);
    expect(client.ids()).toHaveLength(3);
  });

  it('sends the final event of hub.close() to a stream whose subscribe is still pending', async () => {
    let release!: () => void;
    const authorizing = new Promise<void>((resolve) => {
      release = resolve;
    });
    let asked!: () => void;
    const askedOnce = new Promise<void>((resolve) => {
      asked = resolve;
    });
    const hub = createHub({
      authorize: async () => {
        asked();
        await authorizing;
        return true;
      },
    });
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const response = fetch(`${server.url}?ch=a`);
    await askedOnce;
    const closing = hub.close({ final: { event: 'bye', data: 'deploy' } });
    release();
    await closing;
    const answer = await response;
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('event: bye\ndata: deploy\n\n');
  });

  it('rejects an invalid final event before closing anything: the hub stays fully open', async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const client = watch(`${server.url}?ch=a`);
    cleanups.push(() => client.close());
    await client.until(() => client.opens === 1, 'open');
    await expect(hub.close({ final: { id: 'bad\nid' } })).rejects.toThrow(/"id"/);
    const id = await hub.publish('a', 'still open');
    await client.until(() => client.ids().length === 1, 'an event after the failed close');
    expect(client.ids()).toEqual([id]);
    await hub.close();
    await client.until(() => client.source.readyState !== 1, 'ended by the real close');
  });

  it('answers a bad channel name from the request with a 400 refusal, not a 500', async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const empty = await fetch(`${server.url}?ch=`);
    expect(empty.status).toBe(400);
    await empty.text();
  });

  it("refuses a run's channel beside other channels (400): a run is followed alone, its order is its own", async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const mixed = await fetch(`${server.url}?ch=news,${encodeURIComponent(runChannel('k'))}`);
    expect(mixed.status).toBe(400);
    await mixed.text();
  });
});
