/**
 * The public types of the Fastify adapter, and the declaration merging that puts `reply.sse`
 * and the `sse` route option onto Fastify's own types. The option and helper types carry the
 * same names and keys as in @ssekit/express.
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
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';

export type ChannelList<Events extends EventMap = EventMap> =
  | ChannelOf<Events>
  | readonly ChannelOf<Events>[];

/** `(request, channel) => boolean`, with the Fastify request (so `request.user` from an auth hook is there). */
export type RouteAuthorize = (
  request: FastifyRequest,
  channel: string,
) => boolean | Promise<boolean>;

/**
 * Hears of errors raised after the stream started (the stream is already closed), with the
 * request: `onError(error, request)`, as in @ssekit/express.
 */
export type SseErrorHandler = (error: unknown, request: FastifyRequest) => void;

/**
 * Where the plugin's own log lines go: errors after a stream started (when no `onError` is given)
 * and "store unavailable". Called as pino does (`error({ err }, message)`); a Fastify logger fits.
 * Lines are rate-limited (one per kind per 10 s), so an outage can't print a line per client.
 */
export type SseLogger = Pick<FastifyBaseLogger, 'error' | 'warn'>;

/** Options of `app.register(sse, options)`; the same keys as `sse(options)` in @ssekit/express. */
export interface SseOptions<Events extends EventMap = EventMap>
  extends Omit<SseStreamOptions, 'onError'> {
  /** The hub that `reply.sse.subscribe()` and channel routes use. */
  hub?: Hub<Events>;
  /**
   * Errors after the stream started (a failing source, a failing `onGap` hook); the stream is
   * already closed. Default: `logger.error` (rate-limited; `request.log` unless `logger` is set).
   */
  onError?: SseErrorHandler;
  /** Sent to every open stream when the app closes (`preClose`), before the stream ends. */
  finalEvent?: SseEventInit;
  /** Where the plugin logs (see `SseLogger`). Default: the request's logger, `request.log`. */
  logger?: SseLogger;
  /**
   * Drains the hub when the app closes: `preClose` awaits `hub.drain({ withinMs: drainMs })`
   * (open streams end spread over the window with a `retry:` hint and resume on another
   * instance) before ending what is left. Fastify answers new requests 503 while it closes
   * unless the app is created with `return503OnClosing: false`. Default: no drain.
   */
  drainMs?: number;
}

/**
 * The former name of `SseOptions`.
 * @deprecated Use `SseOptions`.
 */
export type SsekitOptions<Events extends EventMap = EventMap> = SseOptions<Events>;

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

/**
 * Options of `channel(channels, options)`: the subscription options and overrides of the stream
 * options for this route (e.g. `heartbeat`). The hub comes from `app.register(sse, { hub })`.
 * The same keys as `channel()` in @ssekit/express.
 */
export interface SseChannelOptions<_Events extends EventMap = EventMap>
  extends Omit<SseStreamOptions, 'onError'>,
    SseSubscribeOptions {
  /** Errors after the stream started, for this route. Default: the plugin's `onError`. */
  onError?: SseErrorHandler;
}

/** The object form of the `sse` route option, as `channel()` builds it: the channels and their options. */
export type SseChannelRouteConfig<Events extends EventMap = EventMap> =
  SseChannelOptions<Events> & {
    channels: ChannelSource<Events>;
  };

/**
 * The former name of the object form of the `sse` route option.
 * @deprecated Use `SseChannelOptions` for `channel()`'s options (the object form is `channel()`'s `sse`).
 */
export type SseRouteConfig<Events extends EventMap = EventMap> = SseChannelRouteConfig<Events>;

/**
 * The `sse` route option. `true` marks a route whose own handler uses `reply.sse`; the object
 * form is what `channel()` returns, together with the handler that serves it.
 */
export type SseRouteOption<Events extends EventMap = EventMap> =
  | true
  | SseChannelRouteConfig<Events>;

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
