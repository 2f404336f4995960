/** res.sse.pipe(): AI-style token streams, stopped when the client leaves, never an unhandled rejection. */
import { Readable } from 'node:stream';
import { type SseErrorHandler, sse } from '@ssekit/express';
import { deferred, type EventRecorder, listen, type Running, watch } from '@ssekit/test-support';
import { flavours } from '@ssekit/test-support/express';
import type { ErrorRequestHandler } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';

describe.each(flavours)('$name', ({ create }) => {
  let running: Running | undefined;
  const clients: EventRecorder[] = [];
  const connect = (...args: Parameters<typeof watch>): EventRecorder => {
    const client = watch(...args);
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await running?.close();
    running = undefined;
  });

  it('sends each value as an event and resolves when the source ends', async () => {
    const app = create();
    app.use(sse({ heartbeat: false }));
    app.get('/tokens', async (_req, res) => {
      async function* tokens(): AsyncGenerator<string | { done: number }> {
        yield 'Hello';
        yield ',';
        yield { done: 2 };
      }
      await res.sse.pipe(tokens());
      res.sse.close({ event: 'end', data: 'after pipe' });
    });
    running = await listen(app);
    const client = connect(`${running.url}/tokens`, ['message', 'end']);
    const received = await client.count(4);
    expect(received.map((r) => `${r.type}:${r.data}`)).toEqual([
      'message:Hello',
      'message:,',
      'message:{"done":2}',
      'end:after pipe',
    ]);
  });

  it('finalises a generator parked on an await of res.sse.signal when the client leaves', async () => {
    const finalised = deferred();
    const piped = deferred<boolean>();
    const app = create();
    app.use(sse({ heartbeat: false }));
    app.get('/ai', (_req, res) => {
      async function* model(signal: AbortSignal): AsyncGenerator<string> {
        try {
          yield 'first';
          // Parked like a model call in flight; the abort lets it return.
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          yield 'never sent';
        } finally {
          finalised.resolve();
        }
      }
      void res.sse.pipe(model(res.sse.signal)).then(() => piped.resolve(res.sse.closed));
    });
    running = await listen(app);
    const client = connect(`${running.url}/ai`);
    expect((await client.count(1))[0]!.data).toBe('first');
    client.close();
    await finalised.promise;
    expect(await piped.promise).toBe(true);
  });

  it('calls return() on a generator parked elsewhere once its await settles', async () => {
    const finalised = deferred<number>();
    const left = deferred();
    const release = deferred();
    const app = create();
    app.use(sse({ heartbeat: false }));
    app.get('/ai', (_req, res) => {
      async function* endless(): AsyncGenerator<number> {
        let n = 0;
        try {
          yield n++;
          for (;;) {
            await release.promise;
            yield n++;
          }
        } finally {
          finalised.resolve(n);
        }
      }
      void res.sse.pipe(endless()).then(() => left.resolve());
    });
    running = await listen(app);
    const client = connect(`${running.url}/ai`);
    await client.count(1);
    client.close();
    // pipe() resolves as soon as the client leaves, without waiting for the parked generator.
    await left.promise;
    release.resolve();
    // An endless loop only ends through return(): one more value was produced, then finally ran.
    expect(await finalised.promise).toBe(2);
  });

  it('destroys a Readable source when the client leaves', async () => {
    const destroyed = deferred();
    const app = create();
    app.use(sse({ heartbeat: false }));
    app.get('/stream', (_req, res) => {
      const source = new Readable({ objectMode: true, read() {} });
      source.on('close', () => destroyed.resolve());
      source.push('chunk');
      void res.sse.pipe(source);
    });
    running = await listen(app);
    const client = connect(`${running.url}/stream`);
    expect((await client.count(1))[0]!.data).toBe('chunk');
    client.close();
    await destroyed.promise;
  });

  it('closes the stream and reports a failing source through onError', async () => {
    const reported = deferred<{ error: unknown; headersSent: boolean; ended: boolean }>();
    const onError: SseErrorHandler = (error, _req, res) =>
      reported.resolve({ error, headersSent: res.headersSent, ended: res.writableEnded });
    const app = create();
    app.use(sse({ heartbeat: false, onError }));
    app.get('/broken', (_req, res) => {
      async function* broken(): AsyncGenerator<string> {
        yield 'partial';
        throw new Error('model crashed');
      }
      void res.sse.pipe(broken());
    });
    running = await listen(app);
    const client = connect(`${running.url}/broken`);
    await client.count(1);
    const { error, headersSent, ended } = await reported.promise;
    expect((error as Error).message).toBe('model crashed');
    expect(headersSent).toBe(true);
    expect(ended).toBe(true);
  });

  it('logs a failing source as one console.error line when there is no onError, not next(error)', async () => {
    const logged = deferred<unknown[]>();
    const error = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.resolve(args);
    });
    const handled: unknown[] = [];
    const app = create();
    app.use(sse({ heartbeat: false, retry: 60_000 }));
    app.get('/broken', (_req, res) => {
      async function* broken(): AsyncGenerator<string> {
        yield 'partial';
        throw new Error('late\nfailure');
      }
      void res.sse.pipe(broken());
    });
    const errorHandler: ErrorRequestHandler = (caught, _req, _res, next) => {
      handled.push(caught);
      next(caught);
    };
    app.use(errorHandler);
    running = await listen(app);
    const client = connect(`${running.url}/broken`);
    await client.count(1);
    try {
      const args = await logged.promise;
      expect(args).toHaveLength(1);
      expect(args[0]).toBe(
        '[ssekit] GET /broken: error after the stream started: Error: late failure',
      );
      // After the headers went out, Express's error handler must not hear of it.
      expect(handled).toEqual([]);
    } finally {
      client.close();
      error.mockRestore();
    }
  });

  it('sends a source that is not iterable to the error handler before any SSE header', async () => {
    const app = create();
    app.use(sse());
    app.get('/bad', (_req, res) => {
      void res.sse.pipe(42 as unknown as AsyncIterable<string>);
    });
    running = await listen(app);
    const response = await fetch(`${running.url}/bad`);
    expect(response.status).toBe(500);
    expect(response.headers.get('content-type')).not.toMatch(/event-stream/);
    await response.body?.cancel();
  });
});
