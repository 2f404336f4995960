/**
 * The lazy `res.sse`: a getter builds the core stream on first access. Errors are routed the
 * Express way: before the stream started they go to `next(error)` (a closed channel answers
 * 204); after, the stream closes and `onError` (default: one `console.error` line) hears of them.
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
import type { SessionRouting } from '@ssekit/core/adapter';
import type { SseErrorHandler, SseNext, SseResponse } from './types.js';

const STATE = Symbol('ssekit.express');

/**
 * The started, not yet closed streams of one `sse()` middleware: its `close()` ends them. The
 * set itself hears each stream's close, so tracking costs no closure per connection.
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
    stream.onClose(this);
  }

  /** Close listener: forget a stream once it ends. */
  streamClosed(stream: SseStream): void {
    this.delete(stream);
  }

  close(): void {
    this.closing = true;
    for (const stream of [...this]) stream.shutdown(this.finalEvent);
  }
}

const NO_TRACKERS: readonly OpenStreams[] = [];

/** One `sse()` / `channel()` call's options, split once rather than per request. */
export interface AdapterConfig {
  hub: Hub<EventMap> | undefined;
  onError: SseErrorHandler | undefined;
  streamOptions: Omit<SseStreamOptions, 'onError'>;
  /** The `sse()` middlewares that ran for the request, so each one's `close()` reaches it. */
  trackers: readonly OpenStreams[];
}

export function configure(
  options: {
    hub?: Hub<EventMap> | undefined;
    onError?: SseErrorHandler | undefined;
    finalEvent?: unknown;
  } & Omit<SseStreamOptions, 'onError'>,
  tracker?: OpenStreams,
): AdapterConfig {
  const { hub, onError, finalEvent: _final, ...streamOptions } = options;
  return { hub, onError, streamOptions, trackers: tracker ? [tracker] : NO_TRACKERS };
}

function merge(base: AdapterConfig, over: AdapterConfig): AdapterConfig {
  return {
    hub: over.hub ?? base.hub,
    onError: over.onError ?? base.onError,
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
 * The default `onError`: one line, no stack. Not `next(error)`: after the headers went out,
 * Express would destroy the socket and print the stack.
 */
function defaultOnError(error: unknown, req: IncomingMessage): void {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url;
  console.error(`[ssekit] ${req.method} ${url}: error after the stream started: ${oneLine(error)}`);
}

/**
 * Everything one response needs, in one object: it is the stream's context (request, hub,
 * onError) and the session's routing (refuse, report), so an idle connection holds no closures.
 */
class ResponseState implements SseStreamContext, SessionRouting {
  api: SseResponse<EventMap> | undefined;
  constructor(
    readonly request: IncomingMessage,
    readonly res: ServerResponse,
    public config: AdapterConfig,
    /** The `next` of the latest installer: errors before the stream started go there. */
    public next: SseNext,
  ) {}

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
    const stream = this.api?.stream;
    if (stream) for (const open of this.config.trackers) open.track(stream);
  }

  answer(status: number): void {
    this.res.statusCode = status;
    this.res.end();
  }

  raise(error: unknown): void {
    this.next(error);
  }

  report(error: unknown): void {
    try {
      const onError = this.config.onError;
      if (onError) onError(error, this.request, this.res);
      else defaultOnError(error, this.request);
    } catch (thrown) {
      console.error(`[ssekit] onError threw: ${oneLine(thrown)}`);
    }
  }

  warn(message: string): void {
    console.warn(message);
  }

  onError(error: unknown): void {
    this.report(error);
  }
}

type Installed = ServerResponse & { [STATE]?: ResponseState };

/**
 * One shared getter for every response: defining it per response (not on the prototype, which
 * a mounted sub-app swaps) costs a property slot and no closure.
 */
const SSE_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: Installed): SseResponse<EventMap> | undefined {
    return this[STATE]?.session();
  },
};

/**
 * Installs (or refines) the lazy `res.sse`. A later installer, e.g. route-scoped `sse()` after
 * `app.use(sse())`, overrides options until the stream exists; its `next` always wins.
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
    state.next = next;
    if (!state.api) state.config = merge(state.config, config);
    return state;
  }
  Object.defineProperty(res, 'sse', SSE_PROPERTY);
  const created = new ResponseState(req, res, config, next);
  target[STATE] = created;
  return created;
}
