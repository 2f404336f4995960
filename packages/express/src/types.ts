/**
 * The public types of the Express adapter, kept free of Express's own types so the same
 * declarations fit Express 4 and 5 (both Response types extend `http.ServerResponse`). The
 * option and helper types carry the same names and keys as in @ssekit/fastify.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  ChannelOf,
  EventMap,
  EventMeta,
  EventsOf,
  Hub,
  SseEventInit,
  SseSession,
  SseStreamOptions,
} from '@ssekit/core';

/** The request as the adapter sees it: Express 4 and 5 requests both fit. */
export interface SseRequest extends IncomingMessage {
  params: Record<string, string>;
}

/** `next` as the adapter calls it; Express's `NextFunction` fits. */
export type SseNext = (error?: unknown) => void;

/** A connect-style middleware; assignable to Express 4 and 5 `RequestHandler`. */
export type SseMiddleware<Req extends IncomingMessage = SseRequest> = (
  req: Req,
  res: ServerResponse,
  next: SseNext,
) => void;

/**
 * What `sse(options)` returns: the middleware, plus `close()` for shutdown. `close()` ends every
 * open stream this middleware served (after `finalEvent` if set) and every one that starts later,
 * so `server.close()` then completes. With `drainMs`, it first drains the hub (`hub.drain()`: new
 * subscribers are sent away politely, open streams end spread over `drainMs` with a `retry:` hint
 * and resume on another instance), and resolves once it is done:
 * `process.on('SIGTERM', async () => { await sse.close(); server.close(); })`.
 */
export interface SseAppMiddleware extends SseMiddleware<IncomingMessage> {
  close(): Promise<void>;
}

/**
 * Where the adapter's own log lines go: errors after a stream started (when no `onError` is
 * given) and "store unavailable". One string per line; `console`, pino and winston fit. Lines are
 * rate-limited (one per kind per 10 s), so an outage can't print a line per client.
 */
export interface SseLogger {
  error(message: string): void;
  warn(message: string): void;
}

/**
 * Hears of errors raised after the stream started (the stream is already closed), with the
 * request, as `onError(error, request)` in @ssekit/fastify. Express also passes the response.
 */
export type SseErrorHandler = (error: unknown, req: IncomingMessage, res: ServerResponse) => void;

/** Options of `app.use(sse(options))`; the same keys as `app.register(sse, options)` in @ssekit/fastify. */
export interface SseOptions<Events extends EventMap = EventMap>
  extends Omit<SseStreamOptions, 'onError'> {
  /** The hub that `res.sse.subscribe()` and `channel()` use. */
  hub?: Hub<Events>;
  /**
   * Errors after the stream started: a failing `pipe()` source, a failing `onGap` hook.
   * The stream is closed cleanly first. Default: one `logger.error` line (rate-limited).
   */
  onError?: SseErrorHandler;
  /** Sent to every open stream by `close()` on the middleware, before the stream ends. */
  finalEvent?: SseEventInit;
  /** Where the adapter logs (see `SseLogger`). Default: `console`. */
  logger?: SseLogger;
  /**
   * Makes the middleware's `close()` drain the hub over this many ms first (`hub.drain()`), so a
   * deploy loses no client: each reconnects elsewhere and resumes exactly. Default: no drain.
   */
  drainMs?: number;
}

/** `(req, channel) => boolean`: with the Express request, so `req.user` from an auth middleware is there. */
export type RouteAuthorize = (req: SseRequest, channel: string) => boolean | Promise<boolean>;

/** Per-subscription options, as in core's `hub.subscribe`. */
export interface SseSubscribeOptions {
  /** Only matching events are written to this client. */
  filter?: (event: EventMeta) => boolean;
  /** Overrides the hub's authorize hook for this subscription; it gets the Express request. */
  authorize?: RouteAuthorize;
  /** After a gap signal, replay what is still buffered (`'available'`) or nothing (`'none'`). */
  gapReplay?: 'available' | 'none';
}

export type ChannelList<Events extends EventMap = EventMap> =
  | ChannelOf<Events>
  | readonly ChannelOf<Events>[];

/** Channels for a request: fixed, or computed from it (route params, the user). */
export type ChannelSource<Events extends EventMap = EventMap, Req = SseRequest> =
  | ChannelList<Events>
  | ((req: Req) => ChannelList<Events> | Promise<ChannelList<Events>>);

/**
 * Options of `channel(channels, options)`: the subscription options and overrides of the stream
 * options for this route. The hub comes from `sse({ hub })` mounted before. The same keys as
 * `channel()` in @ssekit/fastify.
 */
export interface SseChannelOptions<_Events extends EventMap = EventMap>
  extends Omit<SseStreamOptions, 'onError'>,
    SseSubscribeOptions {
  /** Errors after the stream started, for this route. Default: the `sse()` option's. */
  onError?: SseErrorHandler;
}

/**
 * `res.sse`: one client's event stream, created on first access; nothing is written until used.
 * Errors before the stream started go to `next(error)` (a closed channel answers 204); after, the
 * stream closes and `onError` hears of them. No member rejects.
 */
export type SseResponse<Events extends EventMap = EventMap> = SseSession<Events>;

/**
 * Opt-in typing. Until you fill this in, `res.sse` is typed `SseResponse | undefined`, because it
 * only exists where `sse()` or `channel()` ran. Once you mount it app-wide, say so once:
 *
 * ```ts
 * declare module '@ssekit/express' {
 *   interface Register { hub: typeof hub } // or { events: { prices: Price } }, or { registered: true }
 * }
 * ```
 *
 * Then `res.sse` is non-optional, and channel names and payloads follow the hub's event map.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the application through declaration merging
export interface Register {}

export type { EventsOf };
export type RegisteredEvents = EventsOf<Register>;

/** The type of `res.sse` for a given `Register`: optional until the app declares it registered. */
export type SseResponseFor<R> = [keyof R] extends [never]
  ? SseResponse | undefined
  : SseResponse<EventsOf<R>>;

declare global {
  namespace Express {
    interface Response {
      /**
       * The event stream of this response, installed by `sse()` or `channel()` from
       * @ssekit/express. `undefined` where neither ran; declare `Register` (see its docs) to
       * make it non-optional.
       */
      sse: SseResponseFor<Register>;
    }
  }
}
