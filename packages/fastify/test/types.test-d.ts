import type { Readable } from 'node:stream';
import type { EventMap } from '@ssekit/core';
import {
  channel,
  createHub,
  type Hub,
  type Register,
  type ReplySse,
  type ReplySseFor,
  ssekit,
} from '@ssekit/fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';

interface Price {
  symbol: string;
  value: number;
}
type Events = { prices: Price; news: string };

describe('reply.sse', () => {
  it('follows Register: optional until the app declares the plugin registered', () => {
    expectTypeOf<FastifyReply['sse']>().toEqualTypeOf<ReplySseFor<Register>>();
    // This repository declares nothing, so here it is the honest optional type.
    expectTypeOf<FastifyReply['sse']>().toEqualTypeOf<ReplySse | undefined>();
    expectTypeOf<ReplySseFor<{}>>().toEqualTypeOf<ReplySse | undefined>();
    expectTypeOf<ReplySseFor<{ registered: true }>>().toEqualTypeOf<ReplySse<EventMap>>();
    expectTypeOf<ReplySseFor<{ hub: Hub<Events> }>>().toEqualTypeOf<ReplySse<Events>>();
    expectTypeOf<ReplySseFor<{ events: Events }>>().toEqualTypeOf<ReplySse<Events>>();
  });

  it('must be checked before use where the plugin may be missing', () => {
    const app = Fastify();
    app.get('/x', async (_request, reply) => {
      // @ts-expect-error reply.sse is possibly undefined without Register
      reply.sse.send('x');
      reply.sse?.send('x');
    });
  });

  it('is callable with a source and has the stream methods', () => {
    const sse = {} as ReplySse<Events>;
    expectTypeOf(sse).toBeCallableWith(
      (async function* () {
        yield 'token';
      })(),
    );
    expectTypeOf(sse).toBeCallableWith({} as Readable);
    expectTypeOf(sse(['a'] as unknown as AsyncIterable<string>)).toEqualTypeOf<Promise<void>>();
    expectTypeOf(sse.send).toBeCallableWith({ any: 'data' }, { event: 'e', id: 0, retry: 0 });
    expectTypeOf(sse.subscribe).toBeCallableWith(['prices', 'news']);
    expectTypeOf(sse.subscribe('prices')).toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error not a channel of the hub
    sse.subscribe('weather');
    expectTypeOf(sse.signal).toEqualTypeOf<AbortSignal>();
    expectTypeOf(sse.lastEventId).toEqualTypeOf<string | undefined>();
    expectTypeOf(sse.close).parameter(0).toMatchTypeOf<{ event?: string } | undefined>();
  });
});

describe('plugin options', () => {
  it('takes a hub and the stream options', async () => {
    const app = Fastify();
    const hub = createHub<Events>();
    await app.register(ssekit, { hub, heartbeat: 5000, retry: 0, finalEvent: { event: 'bye' } });
    await app.register(ssekit, { onError: (error, request) => request.log.error(error) });
    // @ts-expect-error heartbeat is a number or false
    await app.register(ssekit, { heartbeat: '5s' });
  });
});

describe('the sse route option', () => {
  it('accepts true and channel(), and rejects other values', () => {
    const app = Fastify();
    app.get('/mine', { sse: true }, async () => {});
    app.get('/prices', channel('prices'));
    app.get(
      '/rooms/:id',
      channel((request) => [`room:${(request.params as { id: string }).id}`], {
        heartbeat: 10_000,
        gapReplay: 'none',
        authorize: (request, name) => {
          expectTypeOf(request).toEqualTypeOf<FastifyRequest>();
          expectTypeOf(name).toEqualTypeOf<string>();
          return true;
        },
      }),
    );
    app.route({ method: 'GET', url: '/r', ...channel(['a', 'b']) });
    // @ts-expect-error only true or the channel config
    app.get('/bad', { sse: 'yes' }, async () => {});
    // @ts-expect-error gapReplay is 'available' or 'none'
    channel('a', { gapReplay: 'all' });
  });

  it('types channel names by an explicit event map', () => {
    channel<Events>(['prices', 'news']);
    // @ts-expect-error not a channel of Events
    channel<Events>('weather');
  });
});
