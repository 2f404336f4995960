/**
 * The lazy `res.sse`: a getter builds the core stream on first access. Errors are routed the Express way: before the stream started they go to `next(error)`
 * (a closed channel answers 204); after, the stream closes and `onError` hears of them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type EventMap,
  type Hub,
  type SessionRouting,
  SseSession,
  SseStream,
  type SseStreamContext,
  type SseStreamOptions,
} from '@ssekit/core';
import type { SseErrorHandler, SseNext, SseOptions, SseResponse } from './types.js';

const STATE = Symbol('ssekit.express');

/** One `sse()` / `sse.channel()` call's options, split once rather than per request. */
export interface AdapterConfig {
  hub: Hub<EventMap> | undefined;
  onError: SseErrorHandler | undefined;
  streamOptions: SseStreamOptions;
}

export function configure(options: SseOptions<EventMap>): AdapterConfig {
  const { hub, onError, ...streamOptions } = options;
  return { hub, onError, streamOptions };
}

function merge(base: AdapterConfig, over: AdapterConfig): AdapterConfig {
  return {
    hub: over.hub ?? base.hub,
    onError: over.onError ?? base.onError,
    streamOptions: { ...base.streamOptions, ...over.streamOptions },
  };
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
      else this.next(error);
    } catch (thrown) {
      console.error('[ssekit] onError threw:', thrown);
    }
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
