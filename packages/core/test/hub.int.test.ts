import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createHub, type Hub, SseRefusal, SseStream } from '@ssekit/core';
import {
  cleanupAfterEach,
  deferred,
  startCoreServer,
  trackSockets,
  utf8Header,
  watch,
} from '@ssekit/test-support';
import { describe, expect, it } from 'vitest';

const cleanups = cleanupAfterEach();

function hubFor(test: Parameters<typeof createHub>[0] = {}): Hub {
  const hub = createHub(test);
  cleanups.push(() => hub.close());
  return hub;
}

/** Opens a raw socket, sends the request, and stops reading after the headers. */
async function stalledClient(url: string, lastEventId?: string): Promise<net.Socket> {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  cleanups.push(() => void socket.destroy());
  await once(socket, 'connect');
  const header = lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : '';
  socket.write(`GET ${pathname}${search} HTTP/1.1\r\nHost: x\r\n${header}\r\n`);
  await once(socket, 'data');
  socket.pause();
  return socket;
}

describe('hub', () => {
  it('round-trips a non-ASCII id and resumes from it (browser-style UTF-8 header)', async () => {
    const log = ['naïve-☕-1', 'naïve-☕-2', 'naïve-☕-3', 'naïve-☕-4'];
    const seen: Array<string | undefined> = [];
    let served = 0;
    const server = http.createServer((req, res) => {
      const stream = new SseStream(res, { retry: 5, heartbeat: false }, { request: req });
      seen.push(stream.lastEventId);
      const from = stream.lastEventId === undefined ? 0 : log.indexOf(stream.lastEventId) + 1;
      const upTo = served++ === 0 ? 2 : log.length;
      for (const id of log.slice(from, upTo)) stream.send(`event ${id}`, { id });
    });
    const sockets = trackSockets(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    // The eventsource package sends the id as UTF-8 bytes, as browsers do.
    const client = watch(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
    cleanups.push(() => client.close());
    await client.until(() => client.ids().length === 2, 'first two');
    for (const s of sockets) s.destroy();
    await client.until(() => client.ids().length === 4, 'resumed');
    expect(client.ids()).toEqual(log);
    expect(seen).toEqual([undefined, 'naïve-☕-2']);
  });

  it('treats a non-ASCII or oversized Last-Event-ID safely: a gap signal or a fresh start, never a crash', async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const id = await hub.publish('n', 1);
    const odd = watch(`${server.url}?ch=n`, ['ssekit-gap'], {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: {
            ...(init?.headers as Record<string, string>),
            'Last-Event-ID': utf8Header('ünïcødé'),
          },
        }),
    });
    cleanups.push(() => odd.close());
    await odd.until(() => odd.ids().length === 1, 'gap and replay');
    expect(odd.events[0]?.type).toBe('ssekit-gap');
    expect(JSON.parse(odd.events[0]!.data)).toMatchObject({
      reason: 'unknown',
      lastEventId: 'ünïcødé',
    });
    const huge = watch(`${server.url}?ch=n&lastEventId=${'x'.repeat(5000)}`, ['ssekit-gap']);
    cleanups.push(() => huge.close());
    await huge.until(() => huge.opens === 1, 'open');
    const next = await hub.publish('n', 2);
    await huge.until(() => huge.events.length === 1, 'live only');
    expect(huge.events).toEqual([{ type: 'message', data: '2', lastEventId: next }]);
    expect(id).not.toBe(next);
  });

  it('closes a slow consumer on overflow; its reconnect with the last id gets everything it missed', async () => {
    const hub = hubFor({ replay: { maxEvents: 10_000 } });
    const maxQueueBytes = 64 * 1024;
    const server = await startCoreServer(hub, { maxQueueBytes });
    cleanups.push(() => server.close());
    const before = await hub.publish('slow', 'first');
    const socket = await stalledClient(`${server.url}?ch=slow`);
    const stream = server.streams[0]!;
    const closed = new Promise((resolve) => stream.onClose(resolve));
    const payload = 'x'.repeat(1000);
    const published: string[] = [];
    let peakQueue = 0;
    while (!stream.closed && published.length < 20_000) {
      for (let i = 0; i < 100; i++) published.push(await hub.publish('slow', payload));
      await new Promise<void>((resolve) => setImmediate(resolve));
      peakQueue = Math.max(peakQueue, stream.queuedBytes);
    }
    expect(await closed).toBe('overflow');
    expect(peakQueue).toBeLessThanOrEqual(maxQueueBytes);
    expect(hub.stats().droppedForOverflow).toBe(1);
    socket.destroy();
    const resumed = watch(`${server.url}?ch=slow&lastEventId=${encodeURIComponent(before)}`);
    cleanups.push(() => resumed.close());
    await resumed.until(
      () => resumed.ids().length === published.length,
      'everything missed',
      20_000,
    );
    expect(resumed.ids()).toEqual(published);
  });

  it('refuses a denied channel with 403 before any header is sent', async () => {
    const hub = hubFor({
      authorize: (request, channel) => channel !== 'secret' || request?.headers['x-key'] === 'k',
    });
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const denied = await fetch(`${server.url}?ch=public,secret`);
    expect(denied.status).toBe(403);
    expect(denied.headers.get('content-type') ?? '').not.toMatch(/event-stream/);
    const allowed = await fetch(`${server.url}?ch=public,secret`, { headers: { 'x-key': 'k' } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    await allowed.body?.cancel();
    const refusal = new SseRefusal(403, 'secret');
    expect(refusal.statusCode).toBe(403);
  });

  it('hub.close() sends the final event and ends every stream so server.close() completes at once', async () => {
    const hub = createHub();
    const server = await startCoreServer(hub);
    const clients = [watch(`${server.url}?ch=a`, ['bye']), watch(`${server.url}?ch=b`, ['bye'])];
    for (const c of clients) await c.until(() => c.opens === 1, 'open');
    const closedServer = new Promise<void>((resolve) => server.server.close(() => resolve()));
    await hub.close({ final: { event: 'bye', data: 'restarting' } });
    // No client closes its side: ending the streams alone lets the server finish closing.
    await closedServer;
    for (const c of clients) {
      await c.until(() => c.events.some((e) => e.type === 'bye'), 'final event');
      c.close();
    }
    expect(hub.stats().clients).toBe(0);
  });

  it('frees channels nobody listens to and nothing is buffered for, and counts what it does', async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const client = watch(`${server.url}?ch=user:1`);
    await client.until(() => client.opens === 1, 'open');
    expect(hub.stats()).toMatchObject({ clients: 1, channels: 1 });
    const id = await hub.publish('user:1', 'hello');
    await client.until(() => client.ids().length === 1, 'event');
    expect(hub.stats()).toMatchObject({ eventsPublished: 1, framesWritten: 1, bufferedEvents: 1 });
    client.close();
    await server.streams[0]!.whenClosed();
    expect(hub.stats()).toMatchObject({ clients: 0, channels: 1 });
    const empty = watch(`${server.url}?ch=user:2&lastEventId=${encodeURIComponent(id)}`);
    await empty.until(() => empty.opens === 1, 'open');
    expect(hub.stats()).toMatchObject({ channels: 2, replaysServed: 1 });
    empty.close();
    await server.streams[1]!.whenClosed();
    expect(hub.stats()).toMatchObject({ clients: 0, channels: 1 });
  });

  it('bounds the live backlog of a client whose replay is still pending: overflow, not heap growth', async () => {
    let release!: () => void;
    const gapHook = new Promise<void>((resolve) => {
      release = resolve;
    });
    const hub = hubFor({ onGap: () => gapHook });
    const maxQueueBytes = 64 * 1024;
    const server = await startCoreServer(hub, { maxQueueBytes });
    cleanups.push(() => server.close());
    cleanups.push(() => release());
    // An unknown id makes the hub wait in onGap (say, loading a snapshot) before the replay.
    const client = watch(`${server.url}?ch=busy&lastEventId=unknown-id`, ['ssekit-gap']);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length === 1, 'gap event');
    const stream = server.streams[0]!;
    const payload = 'x'.repeat(1000);
    // 2 MB at most, far past the 64 KiB bound.
    for (let round = 0; round < 40 && !stream.closed; round++) {
      for (let i = 0; i < 50; i++) await hub.publish('busy', payload);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(stream.closeReason).toBe('overflow');
    expect(hub.stats().droppedForOverflow).toBe(1);
    expect(hub.stats().eventsPublished).toBeLessThan(200);
  });

  it('rejects publishing on a closed hub and counts only what was stored', async () => {
    const hub = createHub();
    await hub.publish('a', 1);
    await hub.closeChannel('shut');
    await expect(hub.publish('shut', 2)).rejects.toThrow(/closed/);
    await hub.close();
    await expect(hub.publish('a', 3)).rejects.toThrow(/hub is closed/);
    expect(hub.stats().eventsPublished).toBe(1);
  });

  it('resets the client id when a stale id meets an empty history, so the next reconnect is clean', async () => {
    const hub = hubFor({ gap: { replay: 'none' } });
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const client = watch(`${server.url}?ch=e&lastEventId=zzzz-5`, ['ssekit-gap']);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length === 1, 'gap event');
    expect(client.events[0]).toMatchObject({ type: 'ssekit-gap', lastEventId: '' });
    expect(client.source.readyState).toBe(client.source.OPEN);
  });

  it('answers HEAD with the event-stream headers and no stream', async () => {
    const hub = hubFor();
    const server = await startCoreServer(hub);
    cleanups.push(() => server.close());
    const response = await fetch(`${server.url}?ch=h`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    await server.streams[0]!.whenClosed();
    expect(hub.stats()).toMatchObject({ clients: 0, channels: 0 });
  });

  it('tells every stream on one response that the client left (say, one made in a hook, one by the route)', async () => {
    const reasons: string[] = [];
    let bothClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      bothClosed = resolve;
    });
    const record = (reason: string): void => {
      reasons.push(reason);
      if (reasons.length === 2) bothClosed();
    };
    const server = http.createServer((_req, res) => {
      const early = new SseStream(res, { heartbeat: false });
      const route = new SseStream(res, { heartbeat: false });
      early.onClose((reason) => record(`early:${reason}`));
      route.onClose((reason) => record(`route:${reason}`));
      route.send('hello');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => void server.close());
    const client = watch(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
    await client.until(() => client.events.length === 1, 'first event');
    client.close();
    await closed;
    expect(reasons.sort()).toEqual(['early:client', 'route:client']);
  });

  it('hears drain even when middleware re-emits it from another emitter (as compression does)', async () => {
    const payload = Buffer.alloc(256 * 1024, 'x');
    let stream: SseStream | undefined;
    const server = http.createServer((_req, res) => {
      // Like compression: 'drain' listeners go to a proxy, which re-emits the response's drain.
      const proxy = new EventEmitter();
      res.on('drain', () => proxy.emit('drain'));
      const on = res.on.bind(res);
      res.on = ((event: string, listener: (...args: unknown[]) => void) =>
        event === 'drain'
          ? proxy.on(event, listener) && res
          : on(event, listener)) as typeof res.on;
      stream = new SseStream(res, {
        heartbeat: false,
        writeTimeout: 5_000,
        maxQueueBytes: 64 << 20,
      });
      for (let i = 0; i < 64; i++) stream.write(payload);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => void server.close());
    const socket = await stalledClient(
      `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    );
    // Behind on a paused reader: not drained yet.
    const early = await Promise.race([
      stream!.drained().then(() => 'drained'),
      Promise.resolve('behind'),
    ]);
    expect(early).toBe('behind');
    socket.resume();
    await stream!.drained();
    expect(stream!.closed).toBe(false);
    expect(stream!.queuedBytes).toBe(0);
    socket.destroy();
  });

  it("keeps each channel's order when a stream's close handler publishes and closes a channel during a flush", async () => {
    const hub = hubFor();
    const live = { a: deferred(), b: deferred() };
    const server = http.createServer((req, res) => {
      const stream = new SseStream(res, { heartbeat: false }, { hub, request: req });
      if (req.url === '/a') {
        // Runs inside the flush that writes A's ending event.
        stream.onClose(() => {
          void hub.publish('b', 'b2');
          void hub.closeChannel('other');
        });
        void hub.subscribe(stream, 'a', { endOn: ['end'] }).then(() => live.a.resolve());
      } else void hub.subscribe(stream, 'b').then(() => live.b.resolve());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const a = watch(`${url}/a`, ['end']);
    const b = watch(`${url}/b`);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await Promise.all([live.a.promise, live.b.promise]);
    // One tick: A's end is written before b1 in the same flush, and A's close handler runs then.
    void hub.publish('a', 'bye', { event: 'end' });
    void hub.publish('b', 'b1');
    await b.until(() => b.events.length >= 2, 'b1 and b2');
    expect(b.events.map((event) => event.data)).toEqual(['b1', 'b2']);
  });
});
