export { createHub, type Hub, SseRefusal } from '@ssekit/core';
export type { RunRouteOptions as SseRunRouteOptions } from '@ssekit/core/adapter';
export { sse as default, sse, ssekit } from './plugin.js';
export { type ChannelRoute, channel } from './route-option.js';
export { type RunKeySource, type RunRoute, run } from './run-route.js';
export type {
  ChannelList,
  ChannelSource,
  EventsOf,
  Register,
  RegisteredEvents,
  ReplySse,
  ReplySseFor,
  RouteAuthorize,
  SseChannelOptions,
  SseChannelRouteConfig,
  SseErrorHandler,
  SsekitOptions,
  SseLogger,
  SseOptions,
  SseRouteConfig,
  SseRouteOption,
  SseSubscribeOptions,
} from './types.js';
