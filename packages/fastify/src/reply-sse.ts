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
  SseSession,
  SseStream,
  type SseStreamContext,
  type SseStreamOptions,
} from '@ssekit/core';
import {
  defineSession,
  errorKey,
  type LogLimiter,
  limitedLog,
  type SessionRouting,
} from '@ssekit/core/adapter';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {
  ChannelList,
  ReplySse,
  SseErrorHandler,
  SseLogger,
  SseSubscribeOptions,
} from './types.js';

/** Where a reply keeps its `reply.sse` once made (read by the `sse` getter). */
export const REPLY_SSE = Symbol('ssekit.replySse');

/**
 * Started, not yet closed streams, with their HTTP/2 session if any: `preClose` ends them. The
 * reply's state (the stream's context) takes each stream out when it closes.
 */
export class OpenStreams extends Map<SseStream, Http2Session | undefined> {}

/** What one plugin registration shares with the replies of its routes. */
export interface PluginState {
  hub: Hub<EventMap> | undefined;
  streamOptions: Omit<SseStreamOptions, 'onError'>;
  onError: SseErrorHandler | undefined;
  /** The `logger` option; default `request.log`. */
  logger: SseLogger | undefined;
  /** One per registration (so per app): at most one line per kind of error per 10 s. */
  limiter: LogLimiter;
  /** The `finalEvent` option, encoded once at `register`. */
  finalEvent: Buffer | undefined;
  open: OpenStreams;
  closing: boolean;
}

/** A channel route's settings that reach the stream: stream option overrides, its `onError`. */
export interface RouteSettings {
  streamOptions: Omit<SseStreamOptions, 'onError'>;
  onError: SseErrorHandler | undefined;
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

/** Without `onError`: one log line per kind of error per 10 s (core's limiter), with the error. */
function defaultOnError(error: unknown, logger: SseLogger, limiter: LogLimiter): void {
  limitedLog(
    `fastify:${errorKey(error)}`,
    'ssekit: stream error',
    (line) => logger.error({ err: error }, line),
    limiter,
  );
}

/**
 * Everything one reply needs, in one object: it is the stream's context (request, hub, onStart,
 * onError) and the session's routing (refuse, report), so an idle connection holds no closures.
 */
class ReplyState implements SseStreamContext, SessionRouting {
  stream!: SseStream;
  /**
   * Dropped once the stream started: from then on only the raw response is written, and an idle
   * connection need not keep Fastify's reply object alive.
   */
  reply: FastifyReply | undefined;
  /** Kept for `onError(error, request)`. */
  readonly request: FastifyRequest;
  constructor(
    reply: FastifyReply,
    readonly plugin: PluginState,
  ) {
    this.reply = reply;
    this.request = reply.request;
  }

  get hub(): Hub<EventMap> | undefined {
    return this.plugin.hub;
  }

  onStart(): void {
    const { plugin, stream } = this;
    const reply = this.reply!;
    this.reply = undefined;
    keepReplyHeaders(reply);
    // From here on the stream owns the response: Fastify must not also send.
    reply.hijack();
    const raw = reply.raw as ServerResponse | Http2ServerResponse;
    plugin.open.set(stream, 'stream' in raw ? raw.stream.session : undefined);
    // Deferred: closing a stream inside its own start() would re-enter it.
    if (plugin.closing) queueMicrotask(() => stream.shutdown(plugin.finalEvent));
  }

  onClose(): void {
    this.plugin.open.delete(this.stream);
  }

  answer(status: number, headers?: Record<string, string>): void {
    if (headers) this.reply?.headers(headers);
    this.reply?.code(status).send();
  }

  raise(error: unknown): void {
    this.reply?.send(error);
  }

  report(error: unknown): void {
    const logger = this.plugin.logger ?? this.request.log;
    try {
      const onError = this.plugin.onError;
      if (onError) onError(error, this.request);
      else defaultOnError(error, logger, this.plugin.limiter);
    } catch (thrown) {
      logger.error({ err: thrown }, 'ssekit: onError threw');
    }
  }

  onError(error: unknown): void {
    this.report(error);
  }

  warn(message: string): void {
    (this.plugin.logger ?? this.request.log).warn(message);
  }
}

const STATE = Symbol('ssekit.reply');
type ReplySseObject = ReplySse<EventMap> & { [STATE]: ReplyState };

/** Members `reply.sse` has beyond core's session: Fastify-typed authorize, a client that left early. */
const replySseProto: object = Object.create(SseSession.prototype, {
  // reply.sse is a function: keep what Function.prototype gives callers.
  call: { value: Function.prototype.call },
  apply: { value: Function.prototype.apply },
  bind: { value: Function.prototype.bind },
  subscribe: {
    async value(
      this: ReplySseObject,
      channels: ChannelList<EventMap>,
      options: SseSubscribeOptions = {},
    ): Promise<boolean> {
      const { reply, request, stream } = this[STATE];
      const { authorize, ...rest } = options;
      const live = await SseSession.prototype.subscribe.call(this, channels, {
        ...rest,
        ...(authorize ? { authorize: (_: unknown, name: string) => authorize(request, name) } : {}),
      });
      if (reply && !stream.started && stream.closed && !reply.sent) {
        // The client left while we were authorizing: nothing to send, and Fastify must not wait.
        reply.hijack();
        if (!reply.raw.writableEnded) reply.raw.end();
      }
      return live;
    },
  },
});

/**
 * The plugin state as a route sees it: its stream options and `onError` over the plugin's.
 * Made once per route and plugin; it inherits the rest (open streams, `closing`) from the plugin.
 */
const routeStates = new WeakMap<RouteSettings, { plugin: PluginState; state: PluginState }>();
function stateFor(plugin: PluginState, route: RouteSettings | undefined): PluginState {
  if (!route) return plugin;
  const cached = routeStates.get(route);
  if (cached?.plugin === plugin) return cached.state;
  const state = Object.create(plugin) as PluginState;
  state.streamOptions = { ...plugin.streamOptions, ...route.streamOptions };
  if (route.onError) state.onError = route.onError;
  routeStates.set(route, { plugin, state });
  return state;
}

export function createReplySse(
  reply: FastifyReply,
  plugin: PluginState,
  route?: RouteSettings,
): ReplySse<EventMap> {
  const routePlugin = stateFor(plugin, route);
  const state = new ReplyState(reply, routePlugin);
  state.stream = new SseStream(reply.raw, routePlugin.streamOptions, state);
  // Callable: reply.sse(source) streams the source, then ends the response.
  const sse = async function streamSource<T>(
    source: AsyncIterable<T> | Readable,
    options?: PipeOptions<T>,
  ): Promise<void> {
    await sse.pipe(source, options);
    sse.close();
  } as ReplySseObject;
  defineSession<EventMap, ReplySseObject>(sse, state.stream, state);
  Object.setPrototypeOf(sse, replySseProto);
  sse[STATE] = state;
  return sse;
}
