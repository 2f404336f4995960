export { createHub, type Hub, SseRefusal } from '@ssekit/core';
export { ssekit, ssekit as default } from './plugin.js';
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
  SsekitOptions,
  SseRouteConfig,
  SseRouteOption,
  SseSubscribeOptions,
} from './types.js';
