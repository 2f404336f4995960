import { once } from 'node:events';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type CloseReason, SseStream } from '@ssekit/core';
import { AsyncQueue } from '@ssekit/test-support';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => Promise<void> | void> = [];
const warnings: Error[] = [];
const onWarning = (warning: Error): void => void warnings.push(warning);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  process.off('warning', onWarning);
  warnings.length = 0;
});

type Api = 'compatibility API (Http2ServerResponse)' | "'stream' event (ServerHttp2Stream)";

/** An h2c server that wraps each request in an SseStream through the chosen API. */
async function startH2(api: Api): Promise<{ url: string; streams: AsyncQueue<SseStream> }> {
  const streams = new AsyncQueue<SseStream>();
  const server: Http2Server = createServer();
  const options = { heartbeat: false as const, retry: 1000 };
  if (api.startsWith('compatibility')) {
    server.on('request', (req, res) => {
      res.setHeader('x-app', 'kept');
      const stream = new SseStream(res, options, { request: req });
      stream.start();
      streams.push(stream);
    });
  } else {
    server.on('stream', (h2stream, headers) => {
      const request = { headers, url: headers[':path'] };
      const stream = new SseStream(
        h2stream,
        { ...options, headers: { 'x-app': 'kept' } },
        { request },
      );
      stream.start();
      streams.push(stream);
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, streams };
}

interface H2Client {
  session: ClientHttp2Session;
  req: ClientHttp2Stream;
  headers: Promise<IncomingHttpHeaders>;
  events: AsyncQueue<EventSourceMessage>;
  retries: number[];
}

function h2Get(url: string, extra: Record<string, string> = {}): H2Client {
  const session = connect(url);
  cleanups.push(() => {
    session.destroy();
  });
  const req = session.request({ ':path': '/sse', accept: 'text/event-stream', ...extra });
  const events = new AsyncQueue<EventSourceMessage>();
  const retries: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (r) => retries.push(r) });
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => parser.feed(chunk));
  req.on('error', () => {});
  const headers = once(req, 'response').then(([h]) => h as IncomingHttpHeaders);
  return { session, req, headers, events, retries };
}

describe.each<Api>([
  'compatibility API (Http2ServerResponse)',
  "'stream' event (ServerHttp2Stream)",
])('SseStream over node:http2 h2c, %s', (api) => {
  it('sends the right headers, no connection header, and no warning', async () => {
    process.on('warning', onWarning);
    const { url, streams } = await startH2(api);
    const client = h2Get(url);
    const headers = await client.headers;
    const stream = await streams.next();
    expect(headers[':status']).toBe(200);
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(headers['cache-control']).toBe('no-cache, no-transform');
    expect(headers['x-accel-buffering']).toBe('no');
    expect(headers['x-app']).toBe('kept');
    expect(headers).not.toHaveProperty('connection');
    expect(headers).not.toHaveProperty('keep-alive');
    // Deliver one event so any warning Node queued for the headers has been emitted.
    stream.send('x');
    await client.events.next();
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
  });

  it('delivers events with data, event type and id, after the initial retry', async () => {
    const { url, streams } = await startH2(api);
    const client = h2Get(url);
    const stream = await streams.next();
    stream.send('hello', { id: '1' });
    stream.send({ n: 2 }, { event: 'tick', id: '2' });
    stream.send('two\r\nlines');
    expect(await client.events.next()).toEqual({ data: 'hello', id: '1', event: undefined });
    expect(await client.events.next()).toEqual({ data: '{"n":2}', id: '2', event: 'tick' });
    expect(await client.events.next()).toEqual({
      data: 'two\nlines',
      id: undefined,
      event: undefined,
    });
    expect(client.retries).toEqual([1000]);
  });

  it('reads a UTF-8 Last-Event-ID header', async () => {
    const { url, streams } = await startH2(api);
    // What a browser puts on the wire: the id's UTF-8 bytes.
    h2Get(url, { 'last-event-id': Buffer.from('é-9', 'utf8').toString('latin1') });
    expect((await streams.next()).lastEventId).toBe('é-9');
  });

  it('fires close with reason client when the client cancels the stream', async () => {
    const { url, streams } = await startH2(api);
    const client = h2Get(url);
    await client.headers;
    const stream = await streams.next();
    const reasons: CloseReason[] = [];
    stream.onClose((reason) => reasons.push(reason));
    const aborted = once(stream.signal, 'abort');
    client.req.close();
    await aborted;
    expect(reasons).toEqual(['client']);
    expect(stream.send('late')).toBe(false);
  });

  it('close() ends the client stream after the final event', async () => {
    const { url, streams } = await startH2(api);
    const client = h2Get(url);
    const stream = await streams.next();
    const ended = once(client.req, 'end');
    stream.close({ event: 'bye', data: 'done' });
    stream.close();
    expect(await client.events.next()).toEqual({ data: 'done', id: undefined, event: 'bye' });
    await ended;
    expect(stream.closeReason).toBe('server');
  });
});
