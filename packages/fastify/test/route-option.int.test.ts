/** The `sse` route option and `channel()`: validation at registration, refusals, and the lifecycle before the stream starts. */
import type { AddressInfo } from 'node:net';
import { channel, createHub, type Hub, sse, ssekit } from '@ssekit/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

let apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps) await app.close();
  apps = [];
});

async function appWith(hub: Hub = createHub()): Promise<FastifyInstance> {
  const app = Fastify();
  apps.push(app);
  await app.register(ssekit, { hub });
  return app;
}

describe('validation at registration', () => {
  it.each([
    [
      'a string',
      'yes',
      /route GET \/bad: invalid "sse" route option: expected true or \{ channels, \.\.\. \}, got "yes"/,
    ],
    [
      'no channels',
      { heartbeat: 1000 },
      /route GET \/bad: invalid "sse" route option: "channels" is required; for a route with its own handler use `sse: true`/,
    ],
    // The rest are core's checks, the same as channel() in both adapters.
    [
      'an empty channel list',
      { channels: [] },
      /channels must be a non-empty name, a non-empty array/,
    ],
    ['an empty channel name', { channels: ['ok', ''] }, /channels must be a non-empty name/],
    ['an unknown key', { channels: ['a'], replay: 5 }, /unknown option "replay"/],
    [
      'a bad heartbeat',
      { channels: ['a'], heartbeat: -1 },
      /option "heartbeat" must be a positive integer/,
    ],
    [
      'a bad gapReplay',
      { channels: ['a'], gapReplay: 'all' },
      /option "gapReplay" must be "available" or "none"/,
    ],
    [
      'a non-function authorize',
      { channels: ['a'], authorize: true },
      /option "authorize" must be a function/,
    ],
  ])('throws naming the route for %s', async (_label, option, message) => {
    const app = await appWith();
    const register = () => app.get('/bad', { sse: option as never }, async () => 'never served');
    expect(register).toThrow(TypeError);
    expect(register).toThrow(/^ssekit: route GET \/bad/);
    expect(register).toThrow(message);
  });

  it('refuses sse.channels together with a handler of the app', async () => {
    const app = await appWith();
    expect(() => app.get('/both', { sse: { channels: ['a'] } }, async () => 'mine')).toThrow(
      /route GET \/both: "sse.channels" is served by ssekit, so it needs ssekit's handler/,
    );
  });

  it('channel() validates when the route is declared', () => {
    expect(() => channel([])).toThrow(/^ssekit: channel\(\[\]\): channels must be/);
    expect(() => channel('a', { heartbeat: 0 })).toThrow(
      /^ssekit: channel\("a"\): option "heartbeat" must be a positive integer/,
    );
    expect(() => channel('a', { replay: 5 } as never)).toThrow(/unknown option "replay"/);
  });
});

describe('refusals', () => {
  it('answers 403 through the error handler when the route authorize denies a channel', async () => {
    const hub = createHub();
    const app = await appWith(hub);
    const denied: string[] = [];
    app.get(
      '/secret',
      channel(['public', 'secret'], {
        authorize: (request, name) => {
          if (name === 'secret' && request.headers.authorization !== 'Bearer admin') {
            denied.push(name);
            return false;
          }
          return true;
        },
      }),
    );
    const res = await app.inject('/secret');
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({
      statusCode: 403,
      message: 'ssekit: access to channel "secret" denied',
    });
    expect(denied).toEqual(['secret']);
    expect(hub.stats().clients).toBe(0);
  });

  it('answers 403 when the hub authorize denies a reply.sse.subscribe() channel', async () => {
    const app = await appWith(createHub({ authorize: () => false }));
    app.get('/own', { sse: true }, async (_request, reply) => {
      await reply.sse!.subscribe('prices');
      return reply;
    });
    const res = await app.inject('/own');
    expect(res.statusCode).toBe(403);
  });

  it('answers a closed channel with 204 and no body', async () => {
    const hub = createHub();
    await hub.closeChannel('room:7');
    const app = await appWith(hub);
    app.get(
      '/rooms/:id',
      channel((request) => [`room:${(request.params as { id: string }).id}`]),
    );
    const closed = await app.inject('/rooms/7');
    expect(closed.statusCode).toBe(204);
    expect(closed.body).toBe('');
    expect(closed.headers['content-type']).toBeUndefined();
  });
});

describe('the Fastify lifecycle before the stream starts', () => {
  it('lets an onRequest auth hook answer 401 before any SSE header', async () => {
    const app = await appWith();
    app.get('/prices', {
      ...channel('prices'),
      onRequest: async (request, reply) => {
        if (request.headers.authorization === undefined)
          return reply.code(401).send({ error: 'login' });
      },
    });
    const res = await app.inject('/prices');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'login' });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBeUndefined();
  });

  it('sends an error thrown by a preHandler or a channel resolver through the error handler with its status', async () => {
    const app = await appWith();
    const handled: number[] = [];
    app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
      handled.push(error.statusCode ?? 500);
      return reply.code(error.statusCode ?? 500).send({ handled: error.message });
    });
    app.get(
      '/guarded',
      {
        sse: true,
        preHandler: async () => {
          throw Object.assign(new Error('expired token'), { statusCode: 401 });
        },
      },
      async (_request, reply) => {
        reply.sse!.send('never');
      },
    );
    app.get(
      '/rooms/:id',
      channel(() => {
        throw Object.assign(new Error('no such room'), { statusCode: 404 });
      }),
    );
    const guarded = await app.inject('/guarded');
    expect(guarded.statusCode).toBe(401);
    expect(guarded.json()).toEqual({ handled: 'expired token' });
    const room = await app.inject('/rooms/9');
    expect(room.statusCode).toBe(404);
    expect(room.json()).toEqual({ handled: 'no such room' });
    expect(handled).toEqual([401, 404]);
  });

  it('keeps headers set by earlier hooks (CORS) on the event stream', async () => {
    const app = await appWith();
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('access-control-allow-origin', 'https://app.example');
      reply.header('vary', 'Origin');
    });
    app.get('/once', { sse: true }, async (_request, reply) => {
      reply.sse!.send('hi');
      reply.sse!.close();
    });
    const res = await app.inject('/once');
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers.vary).toBe('Origin');
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(res.body).toBe('data: hi\n\n');
  });

  it('answers HEAD on an SSE route with the event-stream headers and no stream', async () => {
    const app = await appWith();
    app.get('/prices', channel('prices'));
    app.get('/mine', { sse: true }, async (_request, reply) => {
      reply.sse!.send('never on HEAD');
    });
    for (const url of ['/prices', '/mine']) {
      const res = await app.inject({ method: 'HEAD', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(res.body).toBe('');
    }
  });
});

describe('routes the onRoute hook does not see', () => {
  it('work when declared right after register() without await', async () => {
    const hub = createHub();
    await hub.closeChannel('closed');
    const app = Fastify();
    apps.push(app);
    app.register(ssekit, { hub });
    // Declared before the plugin body runs, so its onRoute hook never sees them.
    app.get('/denied', channel('prices', { authorize: () => false }));
    app.get('/closed', channel('closed'));
    app.get('/mine', { sse: true }, async (_request, reply) => {
      reply.sse!.send('works');
      reply.sse!.close();
    });
    await app.ready();
    expect((await app.inject('/denied')).statusCode).toBe(403);
    expect((await app.inject('/closed')).statusCode).toBe(204);
    const mine = await app.inject('/mine');
    expect(mine.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(mine.body).toBe('data: works\n\n');
  });

  it('work in a context the plugin does not reach, when the app registers it once', async () => {
    const app = Fastify();
    apps.push(app);
    const hub = createHub();
    await hub.closeChannel('gone');
    app.register(async (withPlugin) => {
      await withPlugin.register(ssekit, { hub });
    });
    app.register(async (sibling) => {
      sibling.get('/orphan', channel('gone'));
    });
    // 204 comes from the hub: the sibling's route reached the plugin's hub.
    expect((await app.inject('/orphan')).statusCode).toBe(204);
  });

  it('fail loudly, naming the route, when it is ambiguous which registration serves it', async () => {
    const app = Fastify();
    apps.push(app);
    for (let i = 0; i < 2; i++) {
      app.register(async (withPlugin) => {
        await withPlugin.register(ssekit, { hub: createHub() });
      });
    }
    app.register(async (sibling) => {
      sibling.get('/orphan', channel('prices'));
    });
    const res = await app.inject('/orphan');
    expect(res.statusCode).toBe(500);
    expect(res.json().message).toMatch(
      /GET \/orphan is served by ssekit, but the plugin is not registered in this route's context, and 2 other contexts/,
    );
  });
});

describe('channel() options', () => {
  it('override the plugin stream options for that route only', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(sse, { hub: createHub(), retry: 100, heartbeat: false });
    app.get('/plain', channel('a'));
    app.get('/tuned', channel('a', { retry: 200, headers: { 'x-route': 'tuned' } }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const first = async (path: string): Promise<[string | null, string]> => {
      const controller = new AbortController();
      const response = await fetch(`${base}${path}`, { signal: controller.signal });
      const reader = response.body!.getReader();
      const { value } = await reader.read();
      controller.abort();
      return [response.headers.get('x-route'), Buffer.from(value!).toString()];
    };
    // (The client's position, a bare id, may follow in the same chunk.)
    expect(await first('/plain')).toEqual([
      null,
      expect.stringMatching(/^retry: 100\n\n(id: [^\n]+-0\n\n)?$/),
    ]);
    expect(await first('/tuned')).toEqual([
      'tuned',
      expect.stringMatching(/^retry: 200\n\n(id: [^\n]+-0\n\n)?$/),
    ]);
  });
});
