import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { CloseReason, SseStream } from '@ssekit/core';
import {
  cleanupAfterEach,
  deferred,
  type EventRecorder,
  type Handler,
  rawGet,
  startSseServer,
  TextWatch,
  watch,
} from '@ssekit/test-support';
import { request } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import { tickerCount } from '../src/stream/ticker.js';

const cleanups = cleanupAfterEach();

async function server(options: Parameters<typeof startSseServer>[0] = {}, handler?: Handler) {
  const started = await startSseServer(options, handler);
  cleanups.push(() => started.close());
  return started;
}

/** The eventsource client, with a tap on the raw bytes of the same connection. */
function client(url: string, types: string[] = []): EventRecorder {
  const es = watch(url, types, { tap: true });
  cleanups.push(() => es.close());
  return es;
}

/** Records every close of a stream, so a test can assert it fired exactly once. */
function closes(stream: SseStream): CloseReason[] {
  const reasons: CloseReason[] = [];
  stream.onClose((reason) => reasons.push(reason));
  return reasons;
}

/** Reads an undici response body as text as it arrives. */
function watchBody(body: AsyncIterable<Buffer>): TextWatch {
  const watch = new TextWatch();
  void (async () => {
    try {
      for await (const chunk of body) watch.append(chunk.toString('utf8'));
    } catch {
      // The connection was torn down by the test.
    }
  })();
  return watch;
}

describe('SseStream over node:http with the eventsource client', () => {
  it('delivers data, event type, id and lastEventId', async () => {
    const srv = await server();
    const es = client(`${srv.url}/sse`, ['tick']);
    const { stream } = await srv.streams.next();

    stream.send('hello', { id: '1' });
    stream.send({ n: 2 }, { event: 'tick', id: '2' });
    stream.send('multi\r\nline\rtext');
    stream.send('after reset', { id: '' });

    const first = await es.next();
    expect([first.data, first.lastEventId]).toEqual(['hello', '1']);
    const tick = await es.next('tick');
    expect([tick.data, tick.lastEventId, tick.type]).toEqual(['{"n":2}', '2', 'tick']);
    const multi = await es.next();
    // No id on this event: the client keeps the last one.
    expect([multi.data, multi.lastEventId]).toEqual(['multi\nline\ntext', '2']);
    const reset = await es.next();
    expect([reset.data, reset.lastEventId]).toEqual(['after reset', '']);
  });

  it('reads the Last-Event-ID the client sends when it reconnects, unicode included', async () => {
    const srv = await server({ retry: 10 });
    const es = client(`${srv.url}/sse`);
    const first = await srv.streams.next();
    expect(first.stream.lastEventId).toBeUndefined();
    first.stream.send('x', { id: 'é-世-1' });
    expect((await es.next()).lastEventId).toBe('é-世-1');
    // A normal end of the response: the client reconnects by itself with its last id.
    first.stream.close();

    const second = await srv.streams.next();
    expect(second.stream.lastEventId).toBe('é-世-1');
    second.stream.send('y', { id: '2' });
    expect((await es.next()).data).toBe('y');
  });

  it('reads a Last-Event-ID sent as raw UTF-8 bytes, and the lastEventId query fallback', async () => {
    const srv = await server();
    const viaHeader = rawGet(`${srv.url}/sse?lastEventId=ignored`, {
      headers: [`Last-Event-ID: ${Buffer.from('ñ-7', 'utf8').toString('latin1')}`],
    });
    cleanups.push(() => void viaHeader.socket.destroy());
    expect((await srv.streams.next()).stream.lastEventId).toBe('ñ-7');

    const viaQuery = rawGet(`${srv.url}/sse?lastEventId=${encodeURIComponent('ñ-8')}`);
    cleanups.push(() => void viaQuery.socket.destroy());
    expect((await srv.streams.next()).stream.lastEventId).toBe('ñ-8');
  });
});

describe('SseStream headers and lazy commit', () => {
  it('sends the SSE headers and keeps the ones the app set', async () => {
    const srv = await server({ headers: { 'X-From-Options': 'opt' } }, ({ res, stream }) => {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('X-App', 'kept');
      stream.start();
    });
    const response = await request(`${srv.url}/sse`);
    cleanups.push(() => void response.body.destroy());
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache, no-transform');
    expect(response.headers['x-accel-buffering']).toBe('no');
    expect(response.headers.connection).toBe('keep-alive');
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['x-app']).toBe('kept');
    expect(response.headers['x-from-options']).toBe('opt');
  });

  it('sends nothing until the first write, so an early error still gets a normal 500', async () => {
    const started: boolean[] = [];
    const srv = await server({}, ({ res, stream }) => {
      try {
        // An invalid field throws before anything is written.
        stream.send('x', { event: 'bad\nevent' });
      } catch (error) {
        started.push(stream.started);
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain');
        res.end(`failed: ${(error as Error).message}`);
      }
    });
    const response = await request(`${srv.url}/sse`);
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe('text/plain');
    expect(await response.body.text()).toMatch(/^failed: .*"event"/);
    expect(started).toEqual([false]);
    // The stream saw the response end and closed without writing.
    const { stream } = await srv.streams.next();
    await stream.whenClosed();
    expect(stream.send('late')).toBe(false);
  });

  it('sends the initial retry first', async () => {
    const srv = await server({ retry: 2500 });
    const response = await request(`${srv.url}/sse`);
    cleanups.push(() => void response.body.destroy());
    const body = watchBody(response.body);
    (await srv.streams.next()).stream.send('x');
    await body.until((text) => text.includes('data: x'));
    expect(body.text).toBe('retry: 2500\n\ndata: x\n\n');
  });

  it('a bad field on an open stream throws, writes nothing, and the stream carries on', async () => {
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    expect(() => stream.send('evil', { id: '1\ndata: injected' })).toThrow(/"id"/);
    expect(() => stream.send('x', { retry: -1 })).toThrow(/"retry"/);
    stream.send('good');
    expect((await es.next()).data).toBe('good');
    expect(es.pending()).toHaveLength(0);
  });
});

describe('heartbeat', () => {
  it('arrives as a comment on the wire and fires no message', async () => {
    const srv = await server({ heartbeat: 50 });
    const es = client(`${srv.url}/sse`);
    await es.opened;
    await es.raw.untilCount(':\n', 2);
    expect(es.raw.text).toBe(':\n'.repeat(es.raw.text.length / 2));
    const { stream } = await srv.streams.next();
    stream.send('real');
    // The first message the client fires is the real one: the heartbeats fired none.
    expect((await es.next()).data).toBe('real');
  });

  it('waits a whole heartbeat interval even when the write timeout ticks faster', async () => {
    const heartbeat = 300;
    const srv = await server({ heartbeat, writeTimeout: 20 });
    const response = await request(`${srv.url}/sse`);
    cleanups.push(() => void response.body.destroy());
    const body = watchBody(response.body);
    (await srv.streams.next()).stream.send('x');
    await body.until((text) => text.includes('data: x\n\n'));
    const sent = Date.now();
    await body.until((text) => text.endsWith(':\n'));
    // Timers may fire a little early relative to Date.now(); allow a small margin.
    expect(Date.now() - sent).toBeGreaterThanOrEqual(heartbeat - 30);
  });

  it('is driven by one shared timer for many streams', async () => {
    const srv = await server({ heartbeat: 40 });
    const clients = Array.from({ length: 5 }, () => client(`${srv.url}/sse`));
    const streams: SseStream[] = [];
    for (const _ of clients) streams.push((await srv.streams.next()).stream);
    await Promise.all(clients.map((c) => c.raw.untilCount(':\n', 1)));
    expect(tickerCount()).toBe(1);
    for (const c of clients) c.close();
    await Promise.all(streams.map((s) => s.whenClosed()));
    expect(tickerCount()).toBe(0);
  });

  it('can be disabled', async () => {
    const srv = await server({ heartbeat: false, writeTimeout: false });
    const c = client(`${srv.url}/sse`);
    await c.opened;
    expect(tickerCount()).toBe(0);
  });
});

describe('disconnect and close', () => {
  it('the client leaving fires one close with reason client and aborts the signal', async () => {
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    await es.opened;
    const { stream } = await srv.streams.next();
    const reasons = closes(stream);
    const signal = stream.signal;
    const aborted = once(signal, 'abort');
    es.close();
    await aborted;
    expect(reasons).toEqual(['client']);
    expect(stream.closed).toBe(true);
    expect(stream.closeReason).toBe('client');
    expect(signal.reason).toBe('client');
    // Late calls are no-ops that report they did not write, and fire nothing more.
    expect(stream.send('late')).toBe(false);
    expect(stream.comment('late')).toBe(false);
    stream.close();
    expect(reasons).toEqual(['client']);
  });

  it('close() is idempotent, ends the response and writes the final event first', async () => {
    const srv = await server();
    const response = await request(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    const reasons = closes(stream);
    stream.close({ event: 'bye', data: 'done' });
    stream.close();
    stream.close({ data: 'again' });
    expect(reasons).toEqual(['server']);
    expect(stream.send('after')).toBe(false);
    expect(stream.write(Buffer.from('data: raw\n\n'))).toBe(false);
    expect(await response.body.text()).toBe('event: bye\ndata: done\n\n');
    expect(stream.signal.aborted).toBe(true);
  });

  it('close() with an invalid final event throws and leaves the stream untouched', async () => {
    const srv = await server();
    const response = await request(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    stream.send('before');
    expect(() => stream.close({ event: 'bad\r', data: 'x' })).toThrow(/"event"/);
    expect(stream.closed).toBe(false);
    stream.close({ data: 'bye' });
    expect(await response.body.text()).toBe('data: before\n\ndata: bye\n\n');
  });

  it('a signal taken after close is already aborted', async () => {
    const srv = await server();
    const response = await request(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    stream.close();
    await response.body.text();
    expect(stream.signal.aborted).toBe(true);
    expect(stream.signal.reason).toBe('server');
  });

  it('a client vanishing mid-write throws nothing into the app', async () => {
    const errors: unknown[] = [];
    const srv = await server({ onError: (error) => errors.push(error) });
    const raw = rawGet(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    const reasons = closes(stream);
    const frame = Buffer.from(`data: ${'x'.repeat(16 * 1024)}\n\n`);
    let thrown: unknown;
    const writer = (async () => {
      try {
        while (!stream.closed) {
          stream.write(frame);
          await new Promise((resolve) => setImmediate(resolve));
        }
        stream.send('after');
      } catch (error) {
        thrown = error;
      }
    })();
    await raw.received.until((text) => text.includes('data: x'));
    raw.socket.destroy();
    await writer;
    expect(thrown).toBeUndefined();
    expect(errors).toEqual([]);
    expect(reasons).toEqual(['client']);
  });
});

describe('pipe()', () => {
  it('streams an async generator and runs its finally when the client leaves', async () => {
    const finalized = deferred();
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    async function* tokens() {
      try {
        for (let i = 0; ; i++) {
          yield `token ${i}`;
          await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        finalized.resolve();
      }
    }
    const piped = stream.pipe(tokens());
    expect((await es.next()).data).toBe('token 0');
    expect((await es.next()).data).toBe('token 1');
    es.close();
    await piped;
    await finalized.promise;
    expect(stream.closeReason).toBe('client');
  });

  it('finalizes a generator parked on an await that listens to the signal', async () => {
    const finalized = deferred<string>();
    const errors: unknown[] = [];
    const srv = await server({ onError: (error) => errors.push(error) });
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    async function* parked(signal: AbortSignal) {
      try {
        yield 'first';
        // Parked until the client leaves; a real producer would await the model here.
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        yield 'never delivered';
      } finally {
        finalized.resolve('finally ran');
      }
    }
    const piped = stream.pipe(parked(stream.signal));
    expect((await es.next()).data).toBe('first');
    es.close();
    await piped;
    expect(await finalized.promise).toBe('finally ran');
    expect(errors).toEqual([]);
  });

  it('reports nothing when a pending next() rejects because the client left', async () => {
    const errors: unknown[] = [];
    const srv = await server({ onError: (error) => errors.push(error) });
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    const signal = stream.signal;
    const rejected = deferred();
    // Like a fetch body reader: the pending read rejects as soon as the signal aborts.
    let reads = 0;
    const source: AsyncIterableIterator<string> = {
      [Symbol.asyncIterator]: () => source,
      next: () => {
        if (reads++ === 0) return Promise.resolve({ value: 'first', done: false });
        return new Promise((_resolve, reject) =>
          signal.addEventListener(
            'abort',
            () => {
              reject(new Error('aborted read'));
              rejected.resolve();
            },
            { once: true },
          ),
        );
      },
    };
    const piped = stream.pipe(source);
    expect((await es.next()).data).toBe('first');
    es.close();
    await piped;
    await rejected.promise;
    expect(errors).toEqual([]);
    expect(stream.closeReason).toBe('client');
  });

  it('calls return() on a plain async iterator when the client leaves', async () => {
    const returned = deferred();
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    let n = 0;
    const iterator: AsyncIterableIterator<number> = {
      [Symbol.asyncIterator]: () => iterator,
      next: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return { value: n++, done: false };
      },
      return: async () => {
        returned.resolve();
        return { value: undefined, done: true };
      },
    };
    const piped = stream.pipe(iterator, {
      map: (value) => ({ data: `n=${value}`, id: String(value) }),
    });
    const first = await es.next();
    expect([first.data, first.lastEventId]).toEqual(['n=0', '0']);
    es.close();
    await piped;
    await returned.promise;
  });

  it('destroys a Readable when the client leaves', async () => {
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    const source = new Readable({ read() {} });
    source.push('chunk one');
    const sourceClosed = once(source, 'close');
    const piped = stream.pipe(source);
    expect((await es.next()).data).toBe('chunk one');
    es.close();
    await piped;
    await sourceClosed;
    expect(source.destroyed).toBe(true);
  });

  it('stops the source at once when the client already left', async () => {
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    await es.opened;
    const { stream } = await srv.streams.next();
    es.close();
    await stream.whenClosed();
    const source = new Readable({ read() {} });
    await stream.pipe(source);
    expect(source.destroyed).toBe(true);
  });

  it('resolves when the source ends, leaving the stream open', async () => {
    const srv = await server();
    const es = client(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    async function* three() {
      yield 1;
      yield 2;
      yield 3;
    }
    await stream.pipe(three());
    expect(stream.closed).toBe(false);
    stream.send('end');
    const received: string[] = [];
    for (let i = 0; i < 4; i++) received.push((await es.next()).data);
    expect(received).toEqual(['1', '2', '3', 'end']);
  });

  it('reports a failing source through onError and closes with reason error', async () => {
    const errors: unknown[] = [];
    const srv = await server({ onError: (error) => errors.push(error) });
    const response = await request(`${srv.url}/sse`);
    const { stream } = await srv.streams.next();
    async function* failing() {
      yield 'ok';
      throw new Error('source broke');
    }
    await stream.pipe(failing());
    expect(await response.body.text()).toBe('data: ok\n\n');
    expect(errors).toEqual([new Error('source broke')]);
    expect(stream.closeReason).toBe('error');
  });

  it('endAt never ends the stream early when a timer fires before the wall clock reaches its time', async () => {
    const srv = await server();
    const c = client(srv.url);
    const { stream } = await srv.streams.next();
    await c.opened;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const now = Date.now();
      stream.endAt(now + 300);
      // The loop's clock runs a millisecond ahead of the wall clock, as Node's can.
      vi.setSystemTime(now - 1);
      vi.advanceTimersByTime(300);
      expect(stream.closed).toBe(false);
      vi.advanceTimersByTime(1);
      expect(stream.closed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
