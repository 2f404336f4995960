export {
  type SseEventInit,
  type Serializer,
  encodeEvent,
  encodeComment,
  encodeEventBody,
  jsonSerializer,
} from './encode.js';
export { formatEventId, parseEventId, newEpoch, type EventPosition } from './event-id.js';
export { lastEventIdFrom, MAX_LAST_EVENT_ID_BYTES, type RequestLike } from './last-event-id.js';
export { ReplayBuffer, DEFAULT_MAX_EVENTS, type ReplayLimits, type StoredEvent } from './replay-buffer.js';
export type { EventStore, GapReason, ReplayResult, StoreListener, StoreStats } from './store.js';
export { MemoryStore, memoryStore, mergeBySeq, type MemoryStoreOptions } from './memory-store.js';
export {
  SseStream,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_WRITE_TIMEOUT_MS,
  type CloseReason,
  type PipeOptions,
  type SseStreamContext,
  type SseStreamOptions,
} from './sse-stream.js';
export type { SseTarget } from './transport.js';
export { tickerCount } from './ticker.js';
export {
  Hub,
  createHub,
  SseRefusal,
  type Authorize,
  type ChannelOf,
  type CloseOptions,
  type EventMap,
  type EventMeta,
  type GapNotice,
  type GapOptions,
  type HubOptions,
  type HubStats,
  type PublishOptions,
  type SubscribeOptions,
} from './hub.js';
