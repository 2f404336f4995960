import type { IncomingMessage } from 'node:http';
import { createHub, type EventMap, type Hub } from '@ssekit/core';
import {
  channel,
  type EventsOf,
  type Register,
  type RegisteredEvents,
  type SseAppMiddleware,
  type SseResponse,
  type SseResponseFor,
  sse,
} from '@ssekit/express';
import express5, { type Request as Request5, type Response as Response5 } from 'express';
import express4, { type Request as Request4, type Response as Response4 } from 'express4';
import { describe, expectTypeOf, it } from 'vitest';

interface Price {
  symbol: string;
  price: number;
}
type Events = { prices: Price; news: string };
const hub = createHub<Events>();

describe('res.sse through module augmentation', () => {
  it('follows Register: optional until the app declares sse() mounted', () => {
    expectTypeOf<Response5['sse']>().toEqualTypeOf<SseResponseFor<Register>>();
    expectTypeOf<Response4['sse']>().toEqualTypeOf<SseResponseFor<Register>>();
    expectTypeOf<SseResponseFor<{}>>().toEqualTypeOf<SseResponse | undefined>();
    expectTypeOf<SseResponseFor<{ registered: true }>>().toEqualTypeOf<SseResponse<EventMap>>();
    expectTypeOf<SseResponseFor<{ hub: Hub<Events> }>>().toEqualTypeOf<SseResponse<Events>>();
    expectTypeOf<SseResponseFor<{ events: Events }>>().toEqualTypeOf<SseResponse<Events>>();
    // The tests declare `Register { registered: true }` (express-register.ts in @ssekit/test-support);
    // what an app that declares nothing sees is checked in types-opt-in.unit.test.ts.
    expectTypeOf<Response5['sse']>().toEqualTypeOf<SseResponse<RegisteredEvents>>();
  });

  it('is typed on Express 5 responses', () => {
    expectTypeOf<Response5['sse']>().toEqualTypeOf<SseResponse<RegisteredEvents>>();
    const app = express5();
    app.use(sse({ hub }));
    app.get('/x', (_req, res) => {
      expectTypeOf(res.sse.send).parameter(0).toBeUnknown();
      expectTypeOf(res.sse.subscribe).returns.toEqualTypeOf<Promise<boolean>>();
      expectTypeOf(res.sse.pipe).returns.toEqualTypeOf<Promise<void>>();
      expectTypeOf(res.sse.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(res.sse.lastEventId).toEqualTypeOf<string | undefined>();
    });
  });

  it('is typed on Express 4 responses', () => {
    expectTypeOf<Response4['sse']>().toEqualTypeOf<SseResponse<RegisteredEvents>>();
    const app = express4();
    app.use(sse({ hub }));
    app.get('/x', (_req, res) => {
      expectTypeOf(res.sse.close).toBeFunction();
      expectTypeOf(res.sse.comment).parameters.toEqualTypeOf<[string]>();
    });
  });

  it('is untyped (any string channel) until the app registers its hub', () => {
    expectTypeOf<RegisteredEvents>().toEqualTypeOf<EventMap>();
  });
});

describe('typed hub events', () => {
  it('resolves a registered hub or event map', () => {
    expectTypeOf<EventsOf<{ hub: typeof hub }>>().toEqualTypeOf<Events>();
    expectTypeOf<EventsOf<{ events: { a: number } }>>().toEqualTypeOf<{ a: number }>();
    expectTypeOf<EventsOf<object>>().toEqualTypeOf<EventMap>();
  });

  it('limits subscribe() to the hub channels', () => {
    const typed = {} as SseResponse<Events>;
    typed.subscribe('prices');
    typed.subscribe(['prices', 'news']);
    // @ts-expect-error: not a channel of this hub
    typed.subscribe('weather');
  });

  it('limits channel() names to the registered or given event map', () => {
    channel<Events>('prices');
    channel<Events>(['prices', 'news']);
    channel<Events>(() => ['news']);
    // @ts-expect-error: not a channel of Events
    channel<Events>('weather');
    // @ts-expect-error: computed names are checked too
    channel<Events>(() => ['weather']);
    // @ts-expect-error: the hub is named in sse({ hub }), not per channel route
    channel('prices', { hub });
  });

  it('limits sse.channel() (the former name, which takes a hub) names to the hub channels', () => {
    sse.channel('prices', { hub });
    sse.channel(['prices', 'news'], { hub });
    sse.channel(() => ['news'], { hub });
    // @ts-expect-error: not a channel of this hub
    sse.channel('weather', { hub });
    // @ts-expect-error: computed names are checked too
    sse.channel(() => ['weather'], { hub });
    expectTypeOf(sse({ hub })).parameter(1).toHaveProperty('writeHead');
  });

  it('accepts any Hub when untyped', () => {
    const plain: Hub = createHub();
    sse.channel('anything', { hub: plain });
  });
});

describe('middleware fits Express 4 and 5 routes', () => {
  it('mounts with app.use, route-scoped, and inside routers', () => {
    const app5 = express5();
    app5.get('/a', sse(), (_req, res) => {
      res.sse.send('x');
    });
    app5.get(
      '/rooms/:id',
      sse.channel((req) => [`room:${req.params.id}`], { hub: createHub() }),
    );
    const router5 = express5.Router();
    router5.use(sse({ hub }));
    router5.get('/p', sse.channel('prices'));

    const app4 = express4();
    app4.get('/a', sse(), (_req, res) => {
      res.sse.send('x');
    });
    app4.get(
      '/rooms/:id',
      sse.channel((req) => [`room:${req.params.id}`]),
    );
    const router4 = express4.Router();
    router4.use(sse({ hub, heartbeat: false }));
  });

  it('passes Express requests to a channel function that asks for them', () => {
    sse.channel((req: Request5<{ id: string }>) => [`room:${req.params.id}`]);
    sse.channel((req: Request4<{ id: string }>) => [`room:${req.params.id}`]);
    sse.channel((req: IncomingMessage) => [String(req.headers['x-room'])]);
  });

  it('returns a middleware with close() from sse()', () => {
    const middleware = sse({ hub, finalEvent: { event: 'bye', data: '' } });
    expectTypeOf(middleware).toEqualTypeOf<SseAppMiddleware>();
    expectTypeOf(middleware.close).toEqualTypeOf<() => Promise<void>>();
    express5().use(middleware);
    express4().use(middleware);
    // @ts-expect-error finalEvent is an event
    sse({ finalEvent: 'bye' });
  });

  it('types onError with the request and response', () => {
    sse({
      onError: (error, req, res) => {
        expectTypeOf(error).toBeUnknown();
        expectTypeOf(req).toEqualTypeOf<IncomingMessage>();
        expectTypeOf(res.headersSent).toBeBoolean();
      },
    });
  });
});
