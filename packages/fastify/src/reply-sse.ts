/**
 * Builds `reply.sse` for one reply. The reply is hijacked only when the stream starts (core's
 * `onStart`), so anything that fails before that still goes through Fastify's error handler.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse, Http2Session } from 'node:http2';
import type { Readable } from 'node:stream';
import {
  defineSession,
  type EventMap,
  type Hub,
  type PipeOptions,
  type SseEventInit,
  SseRefusal,
  SseSession,
  SseStream,
  type SseStreamOptions,
} from '@ssekit/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChannelList, ReplySse, SseSubscribeOptions } from './types.js';

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
        if (state.closing) queueMicrotask(() => stream.shutdown(state.finalEvent));
      },
    },
  );

  const streamSource = async <T>(
    source: AsyncIterable<T> | Readable,
    options?: PipeOptions<T>,
  ): Promise<void> => {
    await sse.pipe(source, options);
    sse.close();
  };
  const sse = defineSession<EventMap, typeof streamSource>(streamSource, stream, {
    // Before any header: Fastify's error handler answers; a closed channel is a plain 204.
    refuse: (error) => {
      if (error instanceof SseRefusal && error.status === 204) reply.code(204).send();
      else reply.send(error);
    },
    report,
  });
  const replySse = Object.assign(sse, {
    subscribe: async (channels: ChannelList<EventMap>, options: SseSubscribeOptions = {}) => {
      const { authorize, ...rest } = options;
      const live = await SseSession.prototype.subscribe.call(sse, channels, {
        ...rest,
        ...(authorize ? { authorize: (_: unknown, name: string) => authorize(request, name) } : {}),
      });
      if (!stream.started && stream.closed && !reply.sent) {
        // The client left while we were authorizing: nothing to send, and Fastify must not wait.
        reply.hijack();
        if (!reply.raw.writableEnded) reply.raw.end();
      }
      return live;
    },
  });
  return replySse;
}
