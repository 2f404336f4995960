/** Statuses, headers and error routing, through supertest, on Express 5 and 4. */

import { channel, createHub, SseRefusal, sse } from '@ssekit/express';
import { flavours } from '@ssekit/test-support/express';
import type { ErrorRequestHandler, Express } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';

interface Caught {
  error: unknown;
  headersSent: boolean;
}

/** An app-level error handler that answers `{ status, message }` and records what it saw. */
function errorHandler(caught: Caught[]): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    caught.push({ error, headersSent: res.headersSent });
    const status = typeof error?.status === 'number' ? error.status : 500;
    res.status(status).json({ status, message: error?.message });
  };
}

function httpError(status: number, message: string): Error & { status: number } {
  return Object.assign(new Error(message), { status });
}

describe.each(flavours)('$name', ({ create, router }) => {
  it('leaves a route that never touches res.sse exactly as before', async () => {
    const build = (withSse: boolean): Express => {
      const app = create();
      if (withSse) app.use(sse({ hub: createHub() }));
      app.get('/json', (_req, res) => {
        res.set('X-App', 'yes').json({ ok: true });
      });
      return app;
    };
    const plain = await request(build(false)).get('/json');
    const wrapped = await request(build(true)).get('/json');
    const { date: _a, ...plainHeaders } = plain.headers;
    const { date: _b, ...wrappedHeaders } = wrapped.headers;
    expect(wrapped.status).toBe(200);
    expect(wrapped.body).toEqual({ ok: true });
    expect(wrappedHeaders).toEqual(plainHeaders);
  });

  it('commits the SSE headers on first use and keeps headers set earlier', async () => {
    const app = create();
    app.use((_req, res, next) => {
      res.setHeader('Access-Control-Allow-Origin', 'https://app.example');
      next();
    });
    app.use(sse({ retry: 1500 }));
    app.get('/events', (_req, res) => {
      res.sse.send('hello', { id: 0, event: 'greet' });
      res.sse.send({ n: 1 }, { id: '' });
      res.sse.comment('bye');
      res.sse.close();
    });
    const res = await request(app).get('/events').buffer(true);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(res.headers['x-accel-buffering']).toBe('no');
    expect(res.headers.connection).toBe('keep-alive');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.text).toBe(
      'retry: 1500\n\nid: 0\nevent: greet\ndata: hello\n\nid:\ndata: {"n":1}\n\n: bye\n',
    );
  });

  it('answers 403 through the error handler, before any SSE header', async () => {
    const caught: Caught[] = [];
    const hub = createHub({ authorize: (_req, channel) => channel !== 'secret' });
    const app = create();
    app.get('/secret', sse.channel('secret', { hub }));
    app.get('/handler', sse({ hub }), (_req, res) => {
      void res.sse.subscribe(['public', 'secret']);
    });
    app.use(errorHandler(caught));
    for (const path of ['/secret', '/handler']) {
      const res = await request(app).get(path);
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['x-accel-buffering']).toBeUndefined();
      expect(res.body.message).toContain('"secret"');
    }
    expect(caught).toHaveLength(2);
    for (const { error, headersSent } of caught) {
      expect(error).toBeInstanceOf(SseRefusal);
      expect(headersSent).toBe(false);
    }
  });

  it('answers 403 with the default Express error handler too', async () => {
    const hub = createHub({ authorize: () => false });
    const app = create();
    app.get('/x', sse.channel('x', { hub }));
    const res = await request(app).get('/x');
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).not.toMatch(/event-stream/);
  });

  it('uses an authorize hook given to sse.channel, with the request', async () => {
    const hub = createHub();
    const app = create();
    app.get(
      '/rooms/:id',
      sse.channel((req) => [`room:${req.params.id}`], {
        hub,
        authorize: (req, channel) => req.headers['x-user'] === 'ann' && channel === 'room:1',
      }),
    );
    expect((await request(app).get('/rooms/1')).status).toBe(403);
    expect((await request(app).get('/rooms/2').set('X-User', 'ann')).status).toBe(403);
    // An allowed, closed channel proves the hook passed without holding a stream open.
    await hub.closeChannel('room:1');
    expect((await request(app).get('/rooms/1').set('X-User', 'ann')).status).toBe(204);
  });

  it('answers 204 with an empty body for a closed channel', async () => {
    const hub = createHub();
    await hub.closeChannel('gone');
    const app = create();
    app.use(sse({ hub }));
    app.get('/route', sse.channel('gone'));
    app.get('/handler', (_req, res) => {
      void res.sse.subscribe('gone');
    });
    for (const path of ['/route', '/handler']) {
      const res = await request(app).get(path);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect(res.headers['content-type']).toBeUndefined();
    }
  });

  it('sends errors before the stream starts to the error handler with their status', async () => {
    const caught: Caught[] = [];
    const app = create();
    app.use(sse({ hub: createHub() }));
    app.get('/thrown', (_req, res) => {
      if (res.sse.lastEventId === undefined) throw httpError(418, 'teapot');
    });
    app.get('/passed', (_req, _res, next) => next(httpError(401, 'who are you')));
    app.get(
      '/channel-fn',
      sse.channel(() => {
        throw httpError(400, 'bad room');
      }),
    );
    app.get(
      '/channel-async',
      sse.channel(async () => {
        throw httpError(404, 'no such room');
      }),
    );
    app.use(errorHandler(caught));
    const answers: Record<string, number> = {};
    for (const path of ['/thrown', '/passed', '/channel-fn', '/channel-async']) {
      const res = await request(app).get(path);
      answers[path] = res.status;
      expect(res.headers['x-accel-buffering']).toBeUndefined();
    }
    expect(answers).toEqual({
      '/thrown': 418,
      '/passed': 401,
      '/channel-fn': 400,
      '/channel-async': 404,
    });
    expect(caught.every((c) => !c.headersSent)).toBe(true);
  });

  it('reports a missing hub through the error handler', async () => {
    const caught: Caught[] = [];
    const app = create();
    app.get('/no-hub', sse(), (_req, res) => {
      void res.sse.subscribe('x');
    });
    app.use(errorHandler(caught));
    const res = await request(app).get('/no-hub');
    expect(res.status).toBe(500);
    expect(res.body.message).toMatch(/needs a hub: sse\(\{ hub \}\)/);
  });

  it('lets route-scoped sse() refine app-level options, inside a Router', async () => {
    const app = create();
    const api = router();
    app.use(sse({ retry: 100 }));
    api.get('/events', sse({ retry: 200, headers: { 'X-Route': 'api' } }), (_req, res) => {
      res.sse.close({ data: 'done' });
    });
    app.use('/api', api);
    const res = await request(app).get('/api/events').buffer(true);
    expect(res.headers['x-route']).toBe('api');
    expect(res.text).toBe('retry: 200\n\ndata: done\n\n');
  });
});

describe('options are checked where they are declared', () => {
  it('sse() throws a TypeError naming a bad or unknown option', () => {
    expect(() => sse({ heartbeat: '5s' as never })).toThrow(
      /^ssekit: sse\(\): option "heartbeat" must be/,
    );
    expect(() => sse({ hub: {} as never })).toThrow(/option "hub" must be a hub/);
    expect(() => sse({ replay: true } as never)).toThrow(/unknown option "replay"/);
  });

  it('channel() checks its channels and options; the hub belongs to sse()', () => {
    expect(() => channel([])).toThrow(/^ssekit: channel\(\[\]\): channels must be/);
    expect(() => channel('a', { gapReplay: 'all' as never })).toThrow(
      /^ssekit: channel\("a"\): option "gapReplay" must be "available" or "none"/,
    );
    expect(() => channel('a', { hub: createHub() } as never)).toThrow(/unknown option "hub"/);
    expect(() => channel('a', { heartbeat: 1000, retry: 10, gapReplay: 'none' })).not.toThrow();
  });

  it('sse.channel(), the former name, still takes a hub', () => {
    expect(() => sse.channel('a', { hub: createHub() })).not.toThrow();
    expect(() => sse.channel('a', { hub: 'hub' as never })).toThrow(/option "hub" must be a hub/);
    expect(() => sse.channel('', {})).toThrow(/channels must be/);
  });
});
