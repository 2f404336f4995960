/**
 * The public types of the Express adapter, kept free of Express's own types so the same
 * declarations fit Express 4 and 5 (both Response types extend `http.ServerResponse`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  ChannelOf,
  EventMap,
  EventMeta,
  EventsOf,
  Hub,
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

/** Reports an error raised after the stream started (the stream is already closed). */
export type SseErrorHandler = (error: unknown, req: IncomingMessage, res: ServerResponse) => void;

export interface SseOptions<Events extends EventMap = EventMap>
  extends Omit<SseStreamOptions, 'onError'> {
  /** The hub that `res.sse.subscribe()` and `sse.channel()` use. */
  hub?: Hub<Events>;
  /**
   * Errors after the stream started: a failing `pipe()` source, a failing `onGap` hook.
   * The stream is closed cleanly first. Default: passed to Express's `next(error)`.
   */
  onError?: SseErrorHandler;
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

export type ChannelList<Events extends EventMap> = ChannelOf<Events> | readonly ChannelOf<Events>[];

export interface SseChannelOptions<Events extends EventMap = EventMap>
  extends SseOptions<Events>,
    SseSubscribeOptions {}

/**
 * `res.sse`: one client's event stream, created on first access; nothing is written until used.
 * Errors before the stream started go to `next(error)` (a closed channel answers 204); after, the
 * stream closes and `onError` (default `next`) hears of them. No member rejects.
 */
export type SseResponse<Events extends EventMap = EventMap> = SseSession<Events>;

/**
 * Declare your hub here to type `res.sse.subscribe()` channel names app-wide:
 *
 * ```ts
 * declare module '@ssekit/express' {
 *   interface Register { hub: typeof hub } // or: { events: { prices: Price } }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the application through declaration merging
export interface Register {}

export type { EventsOf };
export type RegisteredEvents = EventsOf<Register>;

declare global {
  namespace Express {
    interface Response {
      /**
       * The event stream of this response, installed by `sse()` or `sse.channel()` from
       * @ssekit/express. Present only where one of them ran for the request.
       */
      sse: SseResponse<RegisteredEvents>;
    }
  }
}
