/** Streaming through reply.sse over a real listening server with the real `eventsource` client. */
import { Readable } from 'node:stream';
import { channel, createHub, ssekit } from '@ssekit/fastify';
import { deferred, type EventRecorder, listenFastify, rawGet, watch } from '@ssekit/test-support';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function start(build: (app: FastifyInstance) => void | Promise<void>, options = {}) {
  // undici may leave a spare idle socket behind; don't let it delay teardown.
  const app = Fastify({ forceCloseConnections: true });
  cleanup.push(() => app.close());
  await app.register(ssekit, options);
  await build(app);
  return { app, ...(await listenFastify(app)) };
}

function client(url: string, types?: string[]): EventRecorder {
  const c = watch(url, types);
  cleanup.push(() => c.close());
  return c;
}

describe('reply.sse.send / comment', () => {
  it('delivers data, event and id to the client, and comments fire no message', async () => {
    const { url } = await start((app) => {
      app.get('/events', async (_request, reply) => {
        reply.sse!.comment('hello, proxies');
        reply.sse!.send('plain');
        reply.sse!.send({ price: 42 }, { event: 'quote', id: 'q-1' });
        reply.sse!.send('last', { id: 0 });
      });
    });
    const c = client(`${url}/events`, ['message', 'quote']);
    expect(await c.count(3)).toEqual([
      { type: 'message', data: 'plain', lastEventId: '' },
      { type: 'quote', data: '{"price":42}', lastEventId: 'q-1' },
      { type: 'message', data: 'last', lastEventId: '0' },
    ]);
  });
});

describe('reply.sse(source)', () => {
  it('streams an async generator, each value one event, then ends the response', async () => {
    const { url } = await start((app) => {
      app.get('/tokens', (_request, reply) => {
        async function* tokens() {
          for (const word of ['Hello', ' ', 'world']) yield word;
        }
        return reply.sse!(tokens());
      });
    });
    const res = await rawGet(`${url}/tokens`);
    expect((await res.head).headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(await res.ended).toBe('data: Hello\n\ndata:  \n\ndata: world\n\n');
  });

  it('finalises a generator parked on a pending promise that listens to reply.sse.signal', async () => {
    const finalised = deferred();
    const { url } = await start((app) => {
      app.get('/ai', (_request, reply) => {
        const signal = reply.sse!.signal;
        async function* model() {
          try {
            yield 'first token';
            // A model that waits for the next token until the client goes away.
            await new Promise((_resolve, reject) => {
              signal.addEventListener('abort', () => reject(signal.reason));
            });
            yield 'never sent';
          } finally {
            finalised.resolve();
          }
        }
        return reply.sse!(model());
      });
    });
    const c = client(`${url}/ai`);
    expect((await c.count(1))[0]!.data).toBe('first token');
    c.close();
    await finalised.promise;
    expect(c.events).toHaveLength(1);
  });

  it('returns a generator parked on a promise that ignores the signal at its next yield', async () => {
    const gate = deferred();
    const left = deferred<string>();
    const finalised = deferred();
    let resumedPastYield = false;
    const { url } = await start((app) => {
      app.get('/ai', (_request, reply) => {
        reply.sse!.onClose((reason) => left.resolve(reason));
        async function* model() {
          try {
            yield 'first token';
            await gate.promise;
            yield 'after the gate';
            resumedPastYield = true;
          } finally {
            finalised.resolve();
          }
        }
        return reply.sse!(model());
      });
    });
    const c = client(`${url}/ai`);
    await c.count(1);
    c.close();
    expect(await left.promise).toBe('client');
    gate.resolve();
    await finalised.promise;
    expect(resumedPastYield).toBe(false);
  });

  it('destroys a Readable source when the client leaves', async () => {
    const destroyed = deferred();
    const { url } = await start((app) => {
      app.get('/feed', (_request, reply) => {
        const source = new Readable({ objectMode: true, read() {} });
        source.on('close', () => destroyed.resolve());
        source.push({ n: 1 });
        return reply.sse!(source);
      });
    });
    const c = client(`${url}/feed`);
    expect((await c.count(1))[0]!.data).toBe('{"n":1}');
    c.close();
    await destroyed.promise;
  });
});

describe('channels', () => {
  it('resumes three channels exactly after the server destroys the socket', async () => {
    const hub = createHub<{ a: number; b: number; c: number }>();
    const lastEventIds: Array<string | undefined> = [];
    const { url, sockets } = await start(
      (app) => {
        app.addHook('onRequest', async (request) => {
          lastEventIds.push(request.headers['last-event-id'] as string | undefined);
        });
        app.get('/multi', channel(['a', 'b', 'c']));
      },
      { hub, retry: 10 },
    );
    const c = client(`${url}/multi`);
    const opens: Array<() => void> = [];
    const opened = [0, 1].map((n) => new Promise<void>((resolve) => (opens[n] = resolve)));
    let count = 0;
    c.source.addEventListener('open', () => opens[count++]?.());
    await opened[0];
    const published = [
      await hub.publish('a', 1),
      await hub.publish('b', 2),
      await hub.publish('c', 3),
    ];
    await c.count(3);
    // A network blip: the server side drops the connection while publishing goes on.
    for (const socket of sockets) socket.destroy();
    published.push(await hub.publish('c', 4), await hub.publish('a', 5), await hub.publish('b', 6));
    await opened[1];
    published.push(await hub.publish('a', 7));
    const received = await c.count(7);
    expect(received.map((r) => r.data)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(received.map((r) => r.lastEventId)).toEqual(published);
    // The client came back once, with the id of the last event it had.
    expect(lastEventIds).toEqual([undefined, published[2]]);
  });
});
