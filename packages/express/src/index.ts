export { createHub, type Hub, SseRefusal } from '@ssekit/core';
export { type ChannelSource, sse } from './middleware.js';
export type {
  ChannelList,
  EventsOf,
  Register,
  RegisteredEvents,
  RouteAuthorize,
  SseChannelOptions,
  SseErrorHandler,
  SseMiddleware,
  SseNext,
  SseOptions,
  SseRequest,
  SseResponse,
  SseSubscribeOptions,
} from './types.js';
