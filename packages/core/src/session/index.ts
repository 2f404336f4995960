/**
 * @ssekit/core/adapter: what a framework adapter needs. It builds an SseStream on the
 * framework's response, wraps it in the session (`res.sse` / `reply.sse`), implements the
 * session's routing primitives, and checks its options with the shared checks.
 */
export { SsekitError, SseRefusal, StoreUnavailableError } from '../errors.js';
export type { EventsOf, Hub } from '../hub/hub.js';
export type { MetricsMeter } from '../hub/telemetry.js';
export type { EventMap } from '../hub/types.js';
export { errorKey, LOG_INTERVAL_MS, LogLimiter, limitedLog } from '../stream/log-limit.js';
export {
  type CloseListener,
  SseStream,
  type SseStreamContext,
  type SseStreamOptions,
  type StreamTracker,
} from '../stream/sse-stream.js';
export type { SseTarget } from '../stream/transport.js';
export { encodeEvent, type SseEventInit } from '../wire/encode.js';
export {
  ADAPTER_OPTION_CHECKS,
  checkAdapterOptions,
  checkChannelList,
  checkChannelOptions,
  checkOptions,
  checkRunRouteOptions,
  type RunRouteOptions,
  STREAM_OPTION_CHECKS,
  SUBSCRIBE_OPTION_CHECKS,
} from './options.js';
export { defineSession, jitteredRetry, type SessionRouting, SseSession } from './session.js';
