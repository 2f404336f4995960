/**
 * @ssekit/core: what applications use. Store authors import `@ssekit/core/store`; adapter
 * authors `@ssekit/core/adapter`.
 */
export {
  AlreadySubscribedError,
  ChannelClosedError,
  HubClosedError,
  SsekitError,
  SseRefusal,
  StoreUnavailableError,
} from './errors.js';
export { runChannel } from './hub/channel-names.js';
export { createHub, type EventsOf, Hub } from './hub/hub.js';
export { type LimitOptions, LimitRefusal } from './hub/limits.js';
export {
  type FollowOptions,
  RUN_START_EVENT,
  RUN_TERMINAL_EVENTS,
  RunExistsError,
  type RunHandle,
  type RunOptions,
  type RunSource,
} from './hub/runs.js';
export type {
  MetricAttributes,
  MetricCallback,
  MetricHistogram,
  MetricInstrumentOptions,
  MetricObservable,
  MetricObservation,
  MetricsMeter,
  MetricsOption,
  PublishMessage,
  RefusalReason,
  RefuseMessage,
  StreamCloseMessage,
  StreamOpenMessage,
} from './hub/telemetry.js';
export type {
  Authorize,
  AuthorizeResult,
  ChannelOf,
  CloseOptions,
  EventMap,
  EventMeta,
  GapMessage,
  GapNotice,
  GapOptions,
  HubHealth,
  HubOptions,
  HubStats,
  PublishOptions,
  SubscribeOptions,
} from './hub/types.js';
export { SseSession } from './session/session.js';
export { MemoryStore, type MemoryStoreOptions, memoryStore } from './store/memory-store.js';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, type ReplayLimits } from './store/replay-buffer.js';
export type { RunRecord, RunStatus } from './store/runs.js';
export type { ChannelGap, EventStore, GapReason, StoreStats } from './store/store.js';
export {
  type CloseReason,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_REJOIN_RETRY_MS,
  DEFAULT_UNAVAILABLE_RETRY_MS,
  DEFAULT_WRITE_TIMEOUT_MS,
  type PipeOptions,
  SseStream,
  type SseStreamContext,
  type SseStreamOptions,
} from './stream/sse-stream.js';
export type { SseTarget } from './stream/transport.js';
export {
  encodeComment,
  encodeEvent,
  jsonSerializer,
  type Serializer,
  type SseEventInit,
} from './wire/encode.js';
export { type EventPosition, parseEventId } from './wire/event-id.js';
export {
  lastEventIdFrom,
  MAX_LAST_EVENT_ID_BYTES,
  type RequestLike,
} from './wire/last-event-id.js';
