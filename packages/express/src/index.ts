export { createHub, type Hub, SseRefusal } from '@ssekit/core';
export type { RunRouteOptions as SseRunRouteOptions } from '@ssekit/core/adapter';
export { channel, type SseLegacyChannelOptions, sse } from './middleware.js';
export { type RunKeySource, run } from './run-route.js';
export type {
  ChannelList,
  ChannelSource,
  EventsOf,
  Register,
  RegisteredEvents,
  RouteAuthorize,
  SseAppMiddleware,
  SseChannelOptions,
  SseErrorHandler,
  SseLogger,
  SseMiddleware,
  SseNext,
  SseOptions,
  SseRequest,
  SseResponse,
  SseResponseFor,
  SseSubscribeOptions,
} from './types.js';
