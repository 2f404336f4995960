/**
 * The public types of the Express adapter, kept free of Express's own types so the same
 * declarations fit Express 4 and 5 (both Response types extend `http.ServerResponse`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type {
  Authorize,
  ChannelOf,
  EventMap,
  EventMeta,
  Hub,
  PipeOptions,
  SseEventInit,
  SseStream,
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

/** Per-subscription options, as in core's `hub.subscribe`. */
export interface SseSubscribeOptions {
  /** Only matching events are written to this client. */
  filter?: (event: EventMeta) => boolean;
  /** Overrides the hub's authorize hook for this subscription. */
  authorize?: Authorize;
  /** After a gap signal, replay what is still buffered (`'available'`) or nothing (`'none'`). */
  gapReplay?: 'available' | 'none';
}

export type ChannelList<Events extends EventMap> = ChannelOf<Events> | readonly ChannelOf<Events>[];

export interface SseChannelOptions<Events extends EventMap = EventMap>
  extends SseOptions<Events>,
    SseSubscribeOptions {}

/** `res.sse`: one client's event stream, created on first access. Nothing is written until used. */
export interface SseResponse<Events extends EventMap = EventMap> {
  /** Sends one event. Returns false when nothing was written (closed, or dropped on overflow). */
  send(data: unknown, fields?: Omit<SseEventInit, 'data'>): boolean;
  /** Sends a `:` comment. */
  comment(text: string): boolean;
  /**
   * Subscribes to hub channels, replaying from the request's Last-Event-ID. Never rejects:
   * a 403 refusal (or any error before the stream started) goes to `next(error)`, a closed
   * channel answers 204. Resolves to true when the client is live on the channels.
   */
  subscribe(channels: ChannelList<Events>, options?: SseSubscribeOptions): Promise<boolean>;
  /**
   * Streams a source, each value one event. Resolves when the source ends or the client leaves;
   * on leaving, iterators get `return()` and Readables are destroyed. Never rejects.
   */
  pipe<T>(source: AsyncIterable<T> | Readable, options?: PipeOptions<T>): Promise<void>;
  /** Ends the response, optionally after a final event. Idempotent. */
  close(final?: SseEventInit): void;
  /** Commits the SSE headers now (otherwise the first write does). */
  start(): void;
  /** Runs once when the stream closes, with the reason. */
  onClose(listener: Parameters<SseStream['onClose']>[0]): void;
  /** The client's Last-Event-ID (header, else `lastEventId` query), if valid. */
  readonly lastEventId: string | undefined;
  /** Aborts when the stream closes. Hand it to producers. */
  readonly signal: AbortSignal;
  /** True once the SSE headers were sent. */
  readonly started: boolean;
  readonly closed: boolean;
  /** The core stream underneath, for pre-encoded frames and other advanced uses. */
  readonly stream: SseStream;
}

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

/** The event map of a `Register`-shaped type: its `events`, else its hub's, else untyped. */
export type EventsOf<R> = R extends { events: infer E extends EventMap }
  ? E
  : R extends { hub: Hub<infer E> }
    ? E
    : EventMap;

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
