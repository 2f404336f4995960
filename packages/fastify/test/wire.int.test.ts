/**
 * The points where peer Fastify plugins fail: `id: 0` and `retry: 0` must be written, and a
 * CR/LF in `event` or `id` must throw a TypeError with nothing written (no field injection).
 */
import { ssekit } from '@ssekit/fastify';
import { listenFastify, rawGet } from '@ssekit/test-support';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(build: (instance: FastifyInstance) => void, options = {}): Promise<string> {
  app = Fastify({ forceCloseConnections: true });
  await app.register(ssekit, options);
  build(app);
  return (await listenFastify(app)).url;
}

describe('zero values', () => {
  it('writes id 0 and retry 0, and the plugin-level retry 0 first', async () => {
    const url = await serve(
      (instance) => {
        instance.get('/zero', async (_request, reply) => {
          reply.sse!.send('zero', { id: 0, retry: 0 });
          reply.sse!.send('empty id', { id: '' });
          reply.sse!.close();
        });
      },
      { retry: 0 },
    );
    const body = await (await rawGet(`${url}/zero`)).ended;
    expect(body).toBe('retry: 0\n\nid: 0\nretry: 0\ndata: zero\n\nid:\ndata: empty id\n\n');
  });
});

describe('field injection', () => {
  it.each([
    ['event', { event: 'update\ndata: forged' }],
    ['event', { event: 'update\r' }],
    ['id', { id: '1\nevent: forged' }],
    ['id', { id: '1\r\n' }],
  ])('rejects a line break in %s with a TypeError and writes nothing', async (field, fields) => {
    let caught: unknown;
    const url = await serve((instance) => {
      instance.get('/inject', async (_request, reply) => {
        try {
          reply.sse!.send('payload', fields);
        } catch (error) {
          caught = error;
        }
        reply.sse!.send('after');
        reply.sse!.close();
      });
    });
    const body = await (await rawGet(`${url}/inject`)).ended;
    expect(caught).toBeInstanceOf(TypeError);
    expect((caught as TypeError).message).toContain(field);
    expect(body).toBe('data: after\n\n');
  });

  it('an uncaught injection attempt fails before the stream starts: a 500 through the error handler', async () => {
    const seen: unknown[] = [];
    app = Fastify();
    await app.register(ssekit);
    app.setErrorHandler((error, _request, reply) => {
      seen.push(error);
      return reply.code(500).send({ rejected: (error as Error).name });
    });
    app.get('/inject', async (_request, reply) => {
      reply.sse!.send('payload', { id: 'a\nb' });
    });
    const res = await app.inject('/inject');
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ rejected: 'TypeError' });
    expect(seen).toHaveLength(1);
  });
});
