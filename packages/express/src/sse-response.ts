/**
 * The lazy `res.sse`: a getter builds the core stream on first access. Errors are routed the
 * Express way: before the stream started they go to `next(error)` (a closed channel answers
 * 204); after, the stream closes and `onError` (default: one `console.error` line) hears of them.
 *
 * Over 250 lines: the per-response state, the options it merges and the shared getter are the
 * per-connection memory of Express's adapter (docs/decisions.md, "Per-connection memory rules"),
 * and they are measured together.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type EventMap,
  type Hub,
  SseSession,
  SseStream,
  type SseStreamContext,
  type SseStreamOptions,
} from '@ssekit/core';
import { errorKey, LogLimiter, limitedLog, type SessionRouting } from '@ssekit/core/adapter';
import type { SseErrorHandler, SseLogger, SseNext, SseResponse } from './types.js';

const STATE = Symbol('ssekit.express');

/**
 * The started, not yet closed streams of one `sse()` middleware: its `close()` ends them. The
 * response's state (the stream's context) takes each stream out when it closes, so tracking
 * costs the stream no close listener.
 */
export class OpenStreams extends Set<SseStream> {
  closing = false;
  constructor(
    /** The `finalEvent` option, encoded once by `sse()`. */
    readonly finalEvent: Buffer | undefined,
  ) {
    super();
  }

  track(stream: SseStream): void {
    if (this.closing) {
      // Deferred: closing a stream inside its own start() would re-enter it.
      queueMicrotask(() => stream.shutdown(this.finalEvent));
      return;
    }
    this.add(stream);
  }

  /**
   * Ends the streams; with `drain`, first drains the hub (open streams end spread over the
   * window, each with a `retry:` hint, and new subscribers are sent away politely meanwhile).
   */
  async close(drain?: { hub: Hub<EventMap>; withinMs: number }): Promise<void> {
    if (drain && !this.closing) await drain.hub.drain({ withinMs: drain.withinMs });
    this.closing = true;
    for (const stream of [...this]) stream.shutdown(this.finalEvent);
  }
}

const NO_TRACKERS: readonly OpenStreams[] = [];

/** One `sse()` / `channel()` call's options, split once rather than per request. */
export interface AdapterConfig {
  hub: Hub<EventMap> | undefined;
  onError: SseErrorHandler | undefined;
  logger: SseLogger | undefined;
  /** One per `sse()` (so per app): at most one line per kind of error per 10 s. */
  limiter: LogLimiter;
  streamOptions: Omit<SseStreamOptions, 'onError'>;
  /** The `sse()` middlewares that ran for the request, so each one's `close()` reaches it. */
  trackers: readonly OpenStreams[];
}

export function configure(
  options: {
    hub?: Hub<EventMap> | undefined;
    onError?: SseErrorHandler | undefined;
    logger?: SseLogger | undefined;
    finalEvent?: unknown;
    drainMs?: number | undefined;
  } & Omit<SseStreamOptions, 'onError'>,
  tracker?: OpenStreams,
): AdapterConfig {
  const { hub, onError, logger, finalEvent: _final, drainMs: _drain, ...streamOptions } = options;
  return {
    hub,
    onError,
    logger,
    limiter: new LogLimiter(),
    streamOptions,
    trackers: tracker ? [tracker] : NO_TRACKERS,
  };
}

/**
 * Merged configs, by base and override: both are made once per `sse()` / `channel()` call, so
 * every request through the same chain shares one merged config instead of allocating two objects.
 */
const merged = new WeakMap<AdapterConfig, WeakMap<AdapterConfig, AdapterConfig>>();

function merge(base: AdapterConfig, over: AdapterConfig): AdapterConfig {
  let byOver = merged.get(base);
  if (!byOver) {
    byOver = new WeakMap();
    merged.set(base, byOver);
  }
  let config = byOver.get(over);
  if (!config) {
    config = mergeNow(base, over);
    byOver.set(over, config);
  }
  return config;
}

function mergeNow(base: AdapterConfig, over: AdapterConfig): AdapterConfig {
  return {
    hub: over.hub ?? base.hub,
    onError: over.onError ?? base.onError,
    logger: over.logger ?? base.logger,
    limiter: base.limiter,
    streamOptions: { ...base.streamOptions, ...over.streamOptions },
    trackers:
      over.trackers.length === 0
        ? base.trackers
        : [...base.trackers, ...over.trackers.filter((t) => !base.trackers.includes(t))],
  };
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/\s*\n\s*/g, ' ');
}

/**
 * The default `onError`: one line, no stack, through the `logger` option (default `console`), at
 * most one per kind of error per 10 s (core's log limiter): an outage fails every client alike.
 * Not `next(error)`: after the headers went out, Express would destroy the socket and print the stack.
 */
function defaultOnError(error: unknown, req: IncomingMessage, config: AdapterConfig): void {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url;
  limitedLog(
    `express:${errorKey(error)}`,
    `[ssekit] ${req.method} ${url}: error after the stream started: ${oneLine(error)}`,
    (line) => (config.logger ?? console).error(line),
    config.limiter,
  );
}

/**
 * Everything one response needs, in one object: it is the stream's context (request, hub,
 * onError) and the session's routing (refuse, report), so an idle connection holds no closures.
 * Four fields: the request is `res.req`, and Express's `next` is let go once the stream started.
 */
class ResponseState implements SseStreamContext, SessionRouting {
  api: SseResponse<EventMap> | undefined = undefined;
  constructor(
    readonly res: ServerResponse,
    public config: AdapterConfig,
    /**
     * The `next` of the latest installer: errors before the stream started go there. Dropped
     * when it starts (errors after go to `report`), so an idle stream doesn't keep Express's
     * routing closure and its context alive.
     */
    public next: SseNext | undefined,
  ) {}

  /** Node sets `res.req` (and Express does too); the same request `install` was given. */
  get request(): IncomingMessage {
    return this.res.req;
  }

  get hub(): Hub<EventMap> | undefined {
    return this.config.hub;
  }

  session(): SseResponse<EventMap> {
    // Core tracks every started stream with its hub, so hub.close() ends piped ones too.
    this.api ??= new SseSession<EventMap>(
      new SseStream(this.res, this.config.streamOptions, this),
      this,
    );
    return this.api;
  }

  onStart(): void {
    this.next = undefined;
    const stream = this.api?.stream;
    if (stream) for (const open of this.config.trackers) open.track(stream);
  }

  onClose(): void {
    const stream = this.api?.stream;
    if (stream) for (const open of this.config.trackers) open.delete(stream);
  }

  answer(status: number, headers?: Record<string, string>): void {
    this.res.statusCode = status;
    if (headers)
      for (const [name, value] of Object.entries(headers)) this.res.setHeader(name, value);
    this.res.end();
  }

  raise(error: unknown): void {
    // Only called before the stream started; should one come later, it is reported instead.
    const next = this.next;
    if (next) next(error);
    else this.report(error);
  }

  report(error: unknown): void {
    try {
      const onError = this.config.onError;
      if (onError) onError(error, this.request, this.res);
      else defaultOnError(error, this.request, this.config);
    } catch (thrown) {
      (this.config.logger ?? console).error(`[ssekit] onError threw: ${oneLine(thrown)}`);
    }
  }

  warn(message: string): void {
    (this.config.logger ?? console).warn(message);
  }

  onError(error: unknown): void {
    this.report(error);
  }
}

type Installed = ServerResponse & { [STATE]?: ResponseState };

/**
 * One shared getter for every response. Where it can, `install` puts it on a prototype that every
 * response of the app shares (see `reachGetter`), so a response costs no property of its own for
 * it (about 50 bytes per connection); a mounted sub-app swaps `app.response` under a response,
 * never what is above it. Assigning `res.sse` still works: the setter makes an own property, as
 * assigning it did before.
 */
const SSE_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: Installed): SseResponse<EventMap> | undefined {
    return this[STATE]?.session();
  },
  set(this: Installed, value: unknown): void {
    Object.defineProperty(this, 'sse', {
      configurable: true,
      enumerable: true,
      writable: true,
      value,
    });
  },
};

/** The `express.response` objects that carry the getter. */
const sharedGetters = new WeakSet<object>();

/**
 * Makes `res.sse` reach the shared getter. On an Express response, `res`'s prototype is its app's
 * `app.response` (with an own `app`), whose prototype is `express.response`, or, in a mounted
 * sub-app, the parent's `app.response` (Express 4 and 5 re-parent it on mount, whichever copy of
 * Express made the sub-app). The getter goes on that prototype, once: every response of the app,
 * and of apps mounted in it, reaches it. Anything else (a plain `node:http` response, an `sse` the
 * app defined itself) gets an own property, as every response did before.
 */
function reachGetter(res: ServerResponse): void {
  const own = Object.getOwnPropertyDescriptor(res, 'sse');
  if (own === undefined) {
    const appResponse = Object.getPrototypeOf(res) as object | null;
    const shared =
      appResponse !== null && Object.hasOwn(appResponse, 'app')
        ? (Object.getPrototypeOf(appResponse) as object | null)
        : null;
    if (shared !== null && appResponse !== null) {
      if (sharedGetters.has(shared) && !Object.hasOwn(appResponse, 'sse')) return;
      if (!('sse' in appResponse)) {
        Object.defineProperty(shared, 'sse', SSE_PROPERTY);
        sharedGetters.add(shared);
        return;
      }
    }
  } else if (own.get === SSE_PROPERTY.get) {
    return;
  }
  Object.defineProperty(res, 'sse', SSE_PROPERTY);
}

/**
 * Installs (or refines) the lazy `res.sse`. A later installer, e.g. route-scoped `sse()` after
 * `app.use(sse())`, overrides options until the stream exists; its `next` always wins. Each
 * installer checks the getter is reachable, so a route inside a mounted sub-app finds it too.
 */
export function install(
  req: IncomingMessage,
  res: ServerResponse,
  config: AdapterConfig,
  next: SseNext,
): ResponseState {
  const target = res as Installed;
  const state = target[STATE];
  if (state) {
    if (!state.api) {
      reachGetter(res);
      state.config = merge(state.config, config);
    }
    // Once the stream started, `next` is of no more use (see ResponseState.next).
    if (!state.api?.started) state.next = next;
    return state;
  }
  // Node >= 15 sets it; a stand-in response (a test double) might not.
  if (res.req === undefined) (res as { req: IncomingMessage }).req = req;
  reachGetter(res);
  const created = new ResponseState(res, config, next);
  target[STATE] = created;
  return created;
}
