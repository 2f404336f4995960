/** @ssekit/core/store: the contract and helpers for writing an EventStore (e.g. @ssekit/redis). */
export {
  ChannelClosedError,
  SsekitError,
  StoreUnavailableError,
} from '../errors.js';
export { type EventPosition, formatEventId, newEpoch, parseEventId } from '../wire/event-id.js';
export { MemoryRunStore, type RunHistory } from './memory-runs.js';
export { MemoryStore, type MemoryStoreOptions, memoryStore, mergeBySeq } from './memory-store.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_EVENTS,
  ReplayBuffer,
  type ReplayLimits,
  type ReplayOwner,
  type StoredEvent,
} from './replay-buffer.js';
export { isRunChannel, runChannel } from './run-channel.js';
export type { RunClaim, RunRecord, RunStatus, RunStore } from './runs.js';
export type {
  ChannelGap,
  EventStore,
  GapReason,
  ReplayResult,
  StoreListener,
  StoreStats,
  StoreSubscribeOptions,
} from './store.js';
export { STORED_FRAME_OVERHEAD, storedFrame, storedFrameBytes } from './stored-frame.js';
