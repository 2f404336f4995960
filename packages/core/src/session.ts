/**
 * The object both adapters expose as `res.sse` / `reply.sse`: one client's stream with errors
 * routed the framework's way. Before the stream starts an error is refused (the framework answers
 * with its status); after, the stream closes and the error is reported. Nothing here rejects, so
 * an unawaited call can never become an unhandled rejection.
 */
import type { Readable } from 'node:stream';
import type { SseEventInit } from './encode.js';
import type { ChannelOf, EventMap, SubscribeOptions } from './hub.js';
import type { CloseReason, PipeOptions, SseStream } from './sse-stream.js';

export interface SseSession<Events extends EventMap = EventMap> {
  /** Sends one event. Returns false when nothing was written (closed, refused, or dropped). */
  send(data: unknown, fields?: Omit<SseEventInit, 'data'>): boolean;
  /** Sends a `:` comment. */
  comment(text: string): boolean;
  /**
   * Subscribes to hub channels, replaying from the request's Last-Event-ID. Resolves true once
   * live, false when refused (403/204 answered by the framework) or the client left. Never rejects.
   */
  subscribe(
    channels: ChannelOf<Events> | readonly ChannelOf<Events>[],
    options?: SubscribeOptions,
  ): Promise<boolean>;
  /**
   * Streams an async iterable or a Readable, each value one event; resolves when it ends or the
   * client leaves (then iterators get `return()`, Readables are destroyed). Never rejects.
   */
  pipe<T>(source: AsyncIterable<T> | Readable, options?: PipeOptions<T>): Promise<void>;
  /** Ends the response, optionally after a final event. Idempotent. */
  close(final?: SseEventInit): void;
  /** Commits the SSE headers now (otherwise the first write does). */
  start(): void;
  /** Runs once when the stream closes, with the reason. */
  onClose(listener: (reason: CloseReason) => void): void;
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

export interface SessionRouting {
  /** An error before any header was sent (an `SseRefusal`, a bad field): the framework answers. */
  refuse(error: unknown): void;
  /** An error after the stream started; the stream is already closed. */
  report(error: unknown): void;
}

/**
 * Puts the session members onto `target` (a plain object, or Fastify's callable `reply.sse`).
 * After a refusal the session is inert, so nothing is written over the framework's answer.
 */
export function defineSession<Events extends EventMap, T extends object>(
  target: T,
  stream: SseStream,
  routing: SessionRouting,
): T & SseSession<Events> {
  let refused = false;
  const fail = (error: unknown): void => {
    if (stream.started) {
      if (!stream.closed) stream.close(undefined, 'error');
      routing.report(error);
    } else {
      refused = true;
      routing.refuse(error);
    }
  };
  const members: Omit<
    SseSession<Events>,
    'lastEventId' | 'signal' | 'started' | 'closed' | 'stream'
  > = {
    send: (data, fields) => !refused && stream.send(data, fields),
    comment: (text) => !refused && stream.comment(text),
    subscribe: async (channels, options) => {
      if (refused) return false;
      try {
        await stream.subscribe(channels, options);
      } catch (error) {
        fail(error);
        return false;
      }
      return stream.started && !stream.closed;
    },
    pipe: async (source, options) => {
      if (refused) return;
      try {
        await stream.pipe(source, options);
      } catch (error) {
        // Only a source that isn't iterable gets here: core's pipe reports its own failures.
        fail(error);
      }
    },
    close: (final) => {
      if (!refused) stream.close(final);
    },
    start: () => {
      if (!refused) stream.start();
    },
    onClose: (listener) => stream.onClose(listener),
  };
  Object.assign(target, members);
  Object.defineProperties(target, {
    lastEventId: { get: () => stream.lastEventId, enumerable: true },
    signal: { get: () => stream.signal, enumerable: true },
    started: { get: () => stream.started, enumerable: true },
    closed: { get: () => stream.closed, enumerable: true },
    stream: { value: stream, enumerable: true },
  });
  return target as T & SseSession<Events>;
}
