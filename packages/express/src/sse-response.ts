/**
 * The lazy `res.sse`: installed as a getter by the middleware, it builds the core stream on
 * first access. Errors are routed the Express way: before the stream started they go to
 * `next(error)` (a closed channel answers 204); after, the stream closes and `onError` hears it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defineSession, type EventMap, SseRefusal, SseStream } from '@ssekit/core';
import type { SseNext, SseOptions, SseResponse } from './types.js';

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
  // Core tracks every started stream with its hub, so hub.close() ends piped ones too.
  const stream = new SseStream(
    res,
    { ...streamOptions, onError: report },
    { request: req, ...(hub ? { hub } : {}) },
  );
  const api = defineSession<EventMap, object>({}, stream, {
    // Before any header: Express's error handler answers; a closed channel is a plain 204.
    refuse: (error) => {
      if (error instanceof SseRefusal && error.status === 204) {
        res.statusCode = 204;
        res.end();
      } else state.next(error);
    },
    report,
  });
  state.api = api;
  return api;
}
