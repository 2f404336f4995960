export { createHub, type Hub, SseRefusal } from '@ssekit/core';
export { sse as default, sse, ssekit } from './plugin.js';
export { type ChannelRoute, channel } from './route-option.js';
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
  SseOptions,
  SseRouteConfig,
  SseRouteOption,
  SseSubscribeOptions,
} from './types.js';
