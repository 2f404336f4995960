export {
  encodeComment,
  encodeEvent,
  encodeEventBody,
  jsonSerializer,
  type Serializer,
  type SseEventInit,
} from './encode.js';
export {
  ChannelClosedError,
  HubClosedError,
  SsekitError,
  SseRefusal,
  StoreUnavailableError,
} from './errors.js';
export { type EventPosition, formatEventId, newEpoch, parseEventId } from './event-id.js';
export {
  type Authorize,
  type ChannelOf,
  type CloseOptions,
  createHub,
  type EventMap,
  type EventMeta,
  type EventsOf,
  type GapNotice,
  type GapOptions,
  Hub,
  type HubOptions,
  type HubStats,
  type PublishOptions,
  type SubscribeOptions,
} from './hub.js';
export { lastEventIdFrom, MAX_LAST_EVENT_ID_BYTES, type RequestLike } from './last-event-id.js';
export { MemoryStore, type MemoryStoreOptions, memoryStore, mergeBySeq } from './memory-store.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_EVENTS,
  ReplayBuffer,
  type ReplayLimits,
  type StoredEvent,
} from './replay-buffer.js';
export { defineSession, type SessionRouting, SseSession } from './session.js';
export {
  type CloseListener,
  type CloseReason,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_WRITE_TIMEOUT_MS,
  type PipeOptions,
  SseStream,
  type SseStreamContext,
  type SseStreamOptions,
} from './sse-stream.js';
export type {
  ChannelGap,
  EventStore,
  GapReason,
  ReplayResult,
  StoreListener,
  StoreStats,
} from './store.js';
export { tickerCount } from './ticker.js';
export type { SseTarget } from './transport.js';
