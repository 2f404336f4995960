/**
 * The public types of the Fastify adapter, and the declaration merging that puts `reply.sse`
 * and the `sse` route option onto Fastify's own types.
 */
import type { Readable } from 'node:stream';
import type {
  ChannelOf,
  EventMap,
  EventMeta,
  EventsOf,
  Hub,
  PipeOptions,
  SseEventInit,
  SseSession,
  SseStreamOptions,
} from '@ssekit/core';
import type { FastifyRequest } from 'fastify';

export type ChannelList<Events extends EventMap = EventMap> =
  | ChannelOf<Events>
  | readonly ChannelOf<Events>[];

/** `(request, channel) => boolean`, with the Fastify request (so `request.user` from an auth hook is there). */
export type RouteAuthorize = (
  request: FastifyRequest,
  channel: string,
) => boolean | Promise<boolean>;

/** Options of `app.register(ssekit, options)`. */
export interface SsekitOptions<Events extends EventMap = EventMap>
  extends Omit<SseStreamOptions, 'onError'> {
  /** The hub that `reply.sse.subscribe()` and channel routes use. */
  hub?: Hub<Events>;
  /**
   * Errors after the stream started (a failing source, a failing `onGap` hook); the stream is
   * already closed. Default: `request.log.error`.
   */
  onError?: (error: unknown, request: FastifyRequest) => void;
  /** Sent to every open stream when the app closes (`preClose`), before the stream ends. */
  finalEvent?: SseEventInit;
}

/** Per-subscription options, as in core's `hub.subscribe`. */
export interface SseSubscribeOptions {
  /** Only matching events are written to this client. */
  filter?: (event: EventMeta) => boolean;
  /** Overrides the hub's authorize hook for this subscription. */
  authorize?: RouteAuthorize;
  /** After a gap signal, replay what is still buffered (`'available'`) or nothing (`'none'`). */
  gapReplay?: 'available' | 'none';
}

/** Channels for a request: fixed, or computed from it (route params, the user). */
export type ChannelSource<Events extends EventMap = EventMap> =
  | ChannelList<Events>
  | ((request: FastifyRequest) => ChannelList<Events> | Promise<ChannelList<Events>>);

/** The object form of the `sse` route option: ssekit serves these channels, no handler code. */
export interface SseRouteConfig<Events extends EventMap = EventMap> extends SseSubscribeOptions {
  channels: ChannelSource<Events>;
  /** Heartbeat for this route, in ms; `false` disables it. Default: the plugin's. */
  heartbeat?: number | false;
}

/**
 * The `sse` route option. `true` marks a route whose own handler uses `reply.sse`; the object
 * form is what `channel()` returns, together with the handler that serves it.
 */
export type SseRouteOption<Events extends EventMap = EventMap> = true | SseRouteConfig<Events>;

/**
 * `reply.sse`: one client's event stream, created on first access; nothing is written until used.
 * The members are core's session, as `res.sse` in @ssekit/express: errors before the stream started
 * go through Fastify's error handler (a closed channel answers 204); after, the stream closes and
 * `onError` hears of them. No member rejects.
 */
export interface ReplySse<Events extends EventMap = EventMap>
  extends Omit<SseSession<Events>, 'subscribe'> {
  /**
   * Streams a source (an async iterable, e.g. AI tokens, or a Readable), each value one event,
   * then ends the response. When the client leaves first, iterators get `return()` and
   * Readables are destroyed. Never rejects. (`.pipe()` does the same but leaves the stream open.)
   */
  <T>(source: AsyncIterable<T> | Readable, options?: PipeOptions<T>): Promise<void>;
  /**
   * Subscribes to hub channels, replaying from the request's Last-Event-ID. Resolves true once
   * live; false when refused (403 through the error handler, 204 for a closed channel) or the
   * client left. `authorize` here receives the Fastify request.
   */
  subscribe(channels: ChannelList<Events>, options?: SseSubscribeOptions): Promise<boolean>;
}

/**
 * Opt-in typing. Until you fill this in, `reply.sse` is typed `ReplySse | undefined`, because it
 * only exists where the plugin is registered. Once you register it, say so once in your app:
 *
 * ```ts
 * declare module '@ssekit/fastify' {
 *   interface Register { hub: typeof hub } // or { events: { prices: Price } }, or { registered: true }
 * }
 * ```
 *
 * Then `reply.sse` is non-optional, and channel names and payloads follow the hub's event map.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the application through declaration merging
export interface Register {}

export type { EventsOf };
export type RegisteredEvents = EventsOf<Register>;

/** The type of `reply.sse` for a given `Register`: optional until the app declares it registered. */
export type ReplySseFor<R> = [keyof R] extends [never]
  ? ReplySse | undefined
  : ReplySse<EventsOf<R>>;

declare module 'fastify' {
  interface FastifyReply {
    /**
     * The event stream of this reply, from @ssekit/fastify. `undefined` where the plugin is not
     * registered; declare `Register` (see its docs) to make it non-optional.
     */
    sse: ReplySseFor<Register>;
  }
  interface RouteShorthandOptions {
    /** Marks an SSE route (`true`), or serves hub channels (see `channel()`). Read by @ssekit/fastify. */
    sse?: SseRouteOption<RegisteredEvents>;
  }
}
