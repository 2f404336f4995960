import { createHub, type GapNotice, type Hub, type SseStream } from '@ssekit/core';
import { describe, expectTypeOf, it } from 'vitest';

interface Price {
  symbol: string;
  price: number;
}
interface Headline {
  title: string;
}

describe('typed hub', () => {
  it('checks channel names and payloads on publish', () => {
    const hub = createHub<{
      prices: Price;
      news: Headline;
      [user: `user:${string}`]: { text: string };
    }>();
    expectTypeOf(hub).toEqualTypeOf<
      Hub<{ prices: Price; news: Headline; [user: `user:${string}`]: { text: string } }>
    >();
    expectTypeOf(hub.publish('prices', { symbol: 'ACME', price: 1 })).toEqualTypeOf<
      Promise<string>
    >();
    hub.publish('user:42', { text: 'hi' });
    // @ts-expect-error wrong payload for the channel
    hub.publish('prices', { title: 'x' });
    // @ts-expect-error unknown channel
    hub.publish('weather', { symbol: 'ACME', price: 1 });
    // @ts-expect-error unknown channel on subscribe
    hub.subscribe({} as SseStream, ['prices', 'weather']);
    hub.subscribe({} as SseStream, ['prices', 'news']);
  });

  it('types the hooks', () => {
    createHub({
      onGap: (notice, stream) => {
        expectTypeOf(notice).toEqualTypeOf<GapNotice>();
        expectTypeOf(stream).toEqualTypeOf<SseStream>();
        expectTypeOf(notice.reason).toEqualTypeOf<'evicted' | 'unknown' | 'stale'>();
      },
      authorize: (request, channel) => {
        expectTypeOf(channel).toBeString();
        return request !== undefined;
      },
    });
  });

  it('is untyped when no event map is given', () => {
    const hub = createHub();
    hub.publish('anything', 42);
    hub.publish('other', { any: 'thing' });
  });
});
