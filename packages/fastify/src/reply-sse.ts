/**
 * Builds `reply.sse` for one reply. The reply is hijacked only when the stream starts (core's
 * `onStart`), so anything that fails before that still goes through Fastify's error handler.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse, Http2Session } from 'node:http2';
import type { Readable } from 'node:stream';
import {
  type EventMap,
  type Hub,
  type PipeOptions,
  type SseEventInit,
  SseRefusal,
  SseStream,
  type SseStreamOptions,
} from '@ssekit/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ReplySse, SseSubscribeOptions } from './types.js';

/** What one plugin registration shares with the replies of its routes. */
export interface PluginState {
  hub: Hub<EventMap> | undefined;
  streamOptions: Omit<SseStreamOptions, 'onError'>;
  onError: ((error: unknown, request: FastifyRequest) => void) | undefined;
  finalEvent: SseEventInit | undefined;
  /** Started, not yet closed streams, with their HTTP/2 session if any: `preClose` ends them. */
  open: Map<SseStream, Http2Session | undefined>;
  closing: boolean;
}

/** Per-route settings that reach the stream (channel routes). */
export interface ReplySseOverrides {
  heartbeat?: number | false;
}

// Headers Fastify must not hand to a streamed response.
const SKIPPED_HEADERS = new Set(['content-length', 'transfer-encoding']);

/** Copies headers set through `reply.header()` (e.g. CORS in onRequest) onto the raw response. */
function keepReplyHeaders(reply: FastifyReply): void {
  const raw = reply.raw;
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value === undefined || SKIPPED_HEADERS.has(name)) continue;
    raw.setHeader(name, typeof value === 'number' ? String(value) : value);
  }
}

function defaultOnError(error: unknown, request: FastifyRequest): void {
  request.log.error({ err: error }, 'ssekit: stream error');
}

export function createReplySse(
  reply: FastifyReply,
  state: PluginState,
  overrides: ReplySseOverrides = {},
): ReplySse<EventMap> {
  const request = reply.request;
  const report = (error: unknown): void => {
    try {
      (state.onError ?? defaultOnError)(error, request);
    } catch (thrown) {
      request.log.error({ err: thrown }, 'ssekit: onError threw');
    }
  };
  let refused = false;
  const stream: SseStream = new SseStream(
    reply.raw,
    { ...state.streamOptions, ...overrides, onError: report },
    {
      request,
      ...(state.hub ? { hub: state.hub } : {}),
      onStart: () => {
        keepReplyHeaders(reply);
        // From here on the stream owns the response: Fastify must not also send.
        reply.hijack();
        const raw = reply.raw as ServerResponse | Http2ServerResponse;
        state.open.set(stream, 'stream' in raw ? raw.stream.session : undefined);
        stream.onClose(() => state.open.delete(stream));
        // Deferred: closing a stream inside its own start() would re-enter it.
        const hub = state.hub;
        if (hub) queueMicrotask(() => hub.track(stream));
        if (state.closing) queueMicrotask(() => stream.close(state.finalEvent));
      },
    },
  );

  /** Before the stream started, errors go through Fastify (a closed channel is a plain 204). */
  const fail = (error: unknown): void => {
    if (stream.started) {
      if (!stream.closed) stream.close(undefined, 'error');
      report(error);
      return;
    }
    refused = true;
    if (error instanceof SseRefusal && error.status === 204) reply.code(204).send();
    else reply.send(error);
  };

  const pipe = async <T>(
    source: AsyncIterable<T> | Readable,
    options?: PipeOptions<T>,
  ): Promise<void> => {
    if (refused) return;
    await stream.pipe(source, options);
  };

  const sse = (async <T>(source: AsyncIterable<T> | Readable, options?: PipeOptions<T>) => {
    await pipe(source, options);
    if (!refused) stream.close();
  }) as ReplySse<EventMap>;

  const methods: Omit<
    ReplySse<EventMap>,
    'lastEventId' | 'signal' | 'started' | 'closed' | 'stream'
  > = {
    send: (data: unknown, fields?: Omit<SseEventInit, 'data'>) =>
      !refused && stream.send(data, fields),
    comment: (text: string) => !refused && stream.comment(text),
    subscribe: async (channels, options: SseSubscribeOptions = {}) => {
      if (refused) return false;
      try {
        if (!state.hub)
          throw new Error(
            'ssekit: reply.sse.subscribe() needs a hub: register ssekit with { hub }',
          );
        const { authorize, ...rest } = options;
        await stream.subscribe(channels, {
          ...rest,
          ...(authorize
            ? { authorize: (_: unknown, channel: string) => authorize(request, channel) }
            : {}),
        });
      } catch (error) {
        fail(error);
        return false;
      }
      if (!stream.started && !reply.sent) {
        // The client left while we were authorizing: nothing to send, and Fastify must not wait.
        reply.hijack();
        if (!reply.raw.writableEnded) reply.raw.end();
      }
      return stream.started && !stream.closed;
    },
    pipe,
    close: (final?: SseEventInit) => {
      if (!refused) stream.close(final);
    },
    start: () => {
      if (!refused) stream.start();
    },
    onClose: (listener) => stream.onClose(listener),
  };
  Object.assign(sse, methods);
  Object.defineProperties(sse, {
    lastEventId: { get: () => stream.lastEventId, enumerable: true },
    signal: { get: () => stream.signal, enumerable: true },
    started: { get: () => stream.started, enumerable: true },
    closed: { get: () => stream.closed, enumerable: true },
    stream: { value: stream, enumerable: true },
  });
  return sse;
}
