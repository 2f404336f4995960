/**
 * Type-level parity (issue 14): the option and helper types have the same names and keys in both
 * adapters. Their request types differ (Express's `req`, Fastify's `request`), so the checks
 * compare keys and shapes, not whole types. Checked by `tsc` (pnpm typecheck).
 */
import type { SseSession } from '@ssekit/core';
import type * as E from '@ssekit/express';
import type * as F from '@ssekit/fastify';
import { describe, expectTypeOf, it } from 'vitest';

type Price = { symbol: string; value: number };
type Events = { prices: Price; news: string };

describe('option types', () => {
  it('SseOptions: the same keys (hub, onError, finalEvent and the stream options)', () => {
    expectTypeOf<keyof E.SseOptions>().toEqualTypeOf<keyof F.SseOptions>();
    expectTypeOf<E.SseOptions['finalEvent']>().toEqualTypeOf<F.SseOptions['finalEvent']>();
    expectTypeOf<E.SseOptions<Events>['hub']>().toEqualTypeOf<F.SseOptions<Events>['hub']>();
    expectTypeOf<E.SseOptions['heartbeat']>().toEqualTypeOf<F.SseOptions['heartbeat']>();
  });

  it('SseChannelOptions: the same keys, without a hub', () => {
    expectTypeOf<keyof E.SseChannelOptions>().toEqualTypeOf<keyof F.SseChannelOptions>();
    expectTypeOf<'hub' extends keyof E.SseChannelOptions ? true : false>().toEqualTypeOf<false>();
    expectTypeOf<E.SseChannelOptions['gapReplay']>().toEqualTypeOf<
      F.SseChannelOptions['gapReplay']
    >();
    expectTypeOf<E.SseChannelOptions['filter']>().toEqualTypeOf<F.SseChannelOptions['filter']>();
  });

  it('SseSubscribeOptions: the same keys', () => {
    expectTypeOf<keyof E.SseSubscribeOptions>().toEqualTypeOf<keyof F.SseSubscribeOptions>();
  });

  it('onError and authorize take (error | request, ...) in the same order', () => {
    expectTypeOf<Parameters<E.SseErrorHandler>[0]>().toEqualTypeOf<
      Parameters<F.SseErrorHandler>[0]
    >();
    expectTypeOf<Parameters<E.SseErrorHandler>[1]['url']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Parameters<F.SseErrorHandler>[1]['url']>().toEqualTypeOf<string>();
    expectTypeOf<Parameters<E.RouteAuthorize>[1]>().toEqualTypeOf<
      Parameters<F.RouteAuthorize>[1]
    >();
    expectTypeOf<ReturnType<E.RouteAuthorize>>().toEqualTypeOf<ReturnType<F.RouteAuthorize>>();
  });

  it('the former Fastify names are aliases of the new ones', () => {
    expectTypeOf<F.SsekitOptions<Events>>().toEqualTypeOf<F.SseOptions<Events>>();
    expectTypeOf<F.SseRouteConfig<Events>>().toEqualTypeOf<
      F.SseChannelOptions<Events> & { channels: F.ChannelSource<Events> }
    >();
  });
});

describe('helper types', () => {
  it('ChannelList, RegisteredEvents and EventsOf are the same', () => {
    expectTypeOf<E.ChannelList<Events>>().toEqualTypeOf<F.ChannelList<Events>>();
    expectTypeOf<E.EventsOf<{ events: Events }>>().toEqualTypeOf<F.EventsOf<{ events: Events }>>();
    expectTypeOf<E.RegisteredEvents>().toEqualTypeOf<F.RegisteredEvents>();
  });

  it('ChannelSource: a list, or a function of the request', () => {
    expectTypeOf<Extract<E.ChannelSource<Events>, string | readonly string[]>>().toEqualTypeOf<
      Extract<F.ChannelSource<Events>, string | readonly string[]>
    >();
  });

  it('res.sse and reply.sse: the same session members (reply.sse is also callable)', () => {
    expectTypeOf<keyof E.SseResponse<Events>>().toEqualTypeOf<keyof F.ReplySse<Events>>();
    expectTypeOf<keyof E.SseResponse<Events>>().toEqualTypeOf<keyof SseSession<Events>>();
    expectTypeOf<E.SseResponse<Events>['send']>().toEqualTypeOf<F.ReplySse<Events>['send']>();
    expectTypeOf<E.SseResponse<Events>['pipe']>().toEqualTypeOf<F.ReplySse<Events>['pipe']>();
    expectTypeOf<ReturnType<E.SseResponse<Events>['subscribe']>>().toEqualTypeOf<
      ReturnType<F.ReplySse<Events>['subscribe']>
    >();
  });

  it('SseResponseFor and ReplySseFor follow Register the same way', () => {
    expectTypeOf<E.SseResponseFor<{}>>().toEqualTypeOf<E.SseResponse | undefined>();
    expectTypeOf<F.ReplySseFor<{}>>().toEqualTypeOf<F.ReplySse | undefined>();
    expectTypeOf<E.SseResponseFor<{ events: Events }>>().toEqualTypeOf<E.SseResponse<Events>>();
    expectTypeOf<F.ReplySseFor<{ events: Events }>>().toEqualTypeOf<F.ReplySse<Events>>();
  });
});
