/**
 * The lazy `res.sse`: installed as a getter by the middleware, it builds the core stream on
 * first access. Errors are routed the Express way: before the stream started they go to
 * `next(error)` (a closed channel answers 204); after, the stream closes and `onError` hears it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import {
  type EventMap,
  type PipeOptions,
  type SseEventInit,
  SseRefusal,
  SseStream,
} from '@ssekit/core';
import type { SseNext, SseOptions, SseResponse, SseSubscribeOptions } from './types.js';

const STATE = Symbol('ssekit.express');

interface InstallState {
  options: SseOptions<EventMap>;
  /** The `next` of the latest installer: errors before the stream started go there. */
  next: SseNext;
  api: SseResponse<EventMap> | undefined;
}

type Installed = ServerResponse & { [STATE]?: InstallState };

/**
 * Installs (or refines) the lazy `res.sse`. A later installer, e.g. route-scoped `sse()` after
 * `app.use(sse())`, overrides options until the stream exists; its `next` always wins.
 */
export function install(
  req: IncomingMessage,
  res: ServerResponse,
  options: SseOptions<EventMap>,
  next: SseNext,
): () => SseResponse<EventMap> {
  const target = res as Installed;
  let state = target[STATE];
  if (state) {
    state.next = next;
    if (!state.api) state.options = { ...state.options, ...options };
  } else {
    state = { options, next, api: undefined };
    target[STATE] = state;
  }
  const current = state;
  const get = (): SseResponse<EventMap> => current.api ?? create(req, target, current);
  Object.defineProperty(res, 'sse', { configurable: true, enumerable: false, get });
  return get;
}

function create(req: IncomingMessage, res: Installed, state: InstallState): SseResponse<EventMap> {
  const { hub, onError, ...streamOptions } = state.options;
  const report = (error: unknown): void => {
    try {
      if (onError) onError(error, req, res);
      else state.next(error);
    } catch (thrown) {
      console.error('[ssekit] onError threw:', thrown);
    }
  };
  const stream: SseStream = new SseStream(
    res,
    {
      ...streamOptions,
      // Core reports late errors here; close cleanly before the app hears of them.
      onError: (error) => {
        if (!stream.closed) stream.close(undefined, 'error');
        report(error);
      },
    },
    // Core tracks every started stream with its hub, so hub.close() ends piped ones too.
    { request: req, ...(hub ? { hub } : {}) },
  );

  /** Routes an error by whether the client already saw SSE headers. */
  const fail = (error: unknown): void => {
    if (!stream.started) {
      if (error instanceof SseRefusal && error.status === 204) {
        res.statusCode = 204;
        res.end();
        return;
      }
      state.next(error);
      return;
    }
    if (!stream.closed) stream.close(undefined, 'error');
    report(error);
  };

  const api: SseResponse<EventMap> = {
    send: (data: unknown, fields?: Omit<SseEventInit, 'data'>) => stream.send(data, fields),
    comment: (text: string) => stream.comment(text),
    subscribe: async (channels, options?: SseSubscribeOptions) => {
      try {
        if (!hub) throw new Error('ssekit: res.sse.subscribe() needs sse({ hub })');
        await stream.subscribe(channels, options);
        return !stream.closed;
      } catch (error) {
        fail(error);
        return false;
      }
    },
    pipe: async <T>(source: AsyncIterable<T> | Readable, options?: PipeOptions<T>) => {
      try {
        await stream.pipe(source, options);
      } catch (error) {
        fail(error);
      }
    },
    close: (final?: SseEventInit) => stream.close(final),
    start: () => stream.start(),
    onClose: (listener) => stream.onClose(listener),
    get lastEventId() {
      return stream.lastEventId;
    },
    get signal() {
      return stream.signal;
    },
    get started() {
      return stream.started;
    },
    get closed() {
      return stream.closed;
    },
    stream,
  };
  state.api = api;
  return api;
}
