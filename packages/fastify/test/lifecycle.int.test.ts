/** Shutdown and Fastify's response hooks around a hijacked event stream. */
import { createHub, ssekit } from '@ssekit/fastify';
import { deferred, type EventRecorder, listenFastify, rawGet, watch } from '@ssekit/test-support';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

function track(app: FastifyInstance): FastifyInstance {
  cleanup.push(() => app.close());
  return app;
}

function openClient(url: string, types?: string[]): EventRecorder {
  const c = watch(url, types);
  cleanup.push(() => c.close());
  return c;
}

describe('app.close()', () => {
  it('ends every open stream after the final event and completes with clients connected', async () => {
    const hub = createHub();
    // Fastify's defaults: close waits for active connections, so an open stream would hang it.
    const app = Fastify();
    await app.register(ssekit, { hub, finalEvent: { event: 'bye', data: 'restarting' } });
    app.get('/prices', async (_request, reply) => {
      await reply.sse!.subscribe('prices');
      return reply;
    });
    const finalised = deferred();
    app.get('/tokens', (_request, reply) => {
      async function* model() {
        try {
          yield 'thinking';
          await new Promise((_resolve, reject) =>
            reply.sse!.signal.addEventListener('abort', () => reject(reply.sse!.signal.reason)),
          );
        } finally {
          finalised.resolve();
        }
      }
      return reply.sse!(model());
    });
    const { url } = await listenFastify(app);
    const prices = openClient(`${url}/prices`, ['message', 'bye']);
    const tokens = await rawGet(`${url}/tokens`);
    await tokens.until('data: thinking\n\n');
    await new Promise<void>((resolve) => prices.source.addEventListener('open', () => resolve()));
    await hub.publish('prices', 1);
    await prices.count(1);

    await app.close();

    expect(await prices.count(2)).toEqual([
      { type: 'message', data: '1', lastEventId: expect.any(String) },
      { type: 'bye', data: 'restarting', lastEventId: expect.any(String) },
    ]);
    expect(await tokens.ended).toBe('data: thinking\n\nevent: bye\ndata: restarting\n\n');
    await finalised.promise;
    expect(hub.stats().clients).toBe(0);
  });

  it('hub.close() also ends streams that never subscribed (a piped source)', async () => {
    const hub = createHub();
    const app = track(Fastify({ forceCloseConnections: true }));
    await app.register(ssekit, { hub });
    app.get('/tokens', (_request, reply) => {
      async function* forever() {
        yield 'start';
        await new Promise(() => {});
      }
      return reply.sse!(forever());
    });
    const { url } = await listenFastify(app);
    const res = await rawGet(`${url}/tokens`);
    await res.until('data: start\n\n');
    await hub.close({ final: { event: 'bye', data: '' } });
    expect(await res.ended).toBe('data: start\n\nevent: bye\ndata:\n\n');
  });
});

describe('response hooks', () => {
  it('runs onResponse when the server ends the stream, and onRequestAbort when the client leaves', async () => {
    const app = track(Fastify({ forceCloseConnections: true }));
    await app.register(ssekit);
    const responded = deferred<number>();
    const aborted = deferred<string>();
    const left = deferred<string>();
    app.addHook('onResponse', async (_request, reply) => responded.resolve(reply.statusCode));
    app.addHook('onRequestAbort', async (request) => aborted.resolve(request.url));
    app.get('/short', async (_request, reply) => {
      reply.sse!.send('one');
      reply.sse!.close();
    });
    app.get('/long', async (_request, reply) => {
      reply.sse!.onClose((reason) => left.resolve(reason));
      reply.sse!.send('one');
    });
    const { url } = await listenFastify(app);
    const short = await rawGet(`${url}/short`);
    expect(await short.ended).toBe('data: one\n\n');
    expect(await responded.promise).toBe(200);

    const long = await rawGet(`${url}/long`);
    await long.until('data: one\n\n');
    long.destroy();
    expect(await left.promise).toBe('client');
    expect(await aborted.promise).toBe('/long');
  });
});
