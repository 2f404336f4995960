/**
 * The store interface: where ids come from, where history lives, and how events reach the hub.
 * The in-memory store is the default; @ssekit/redis implements the same interface.
 */
import type { StoredEvent } from './replay-buffer.js';
import type { RunStore } from './runs.js';

export type { StoredEvent };

/** Why a Last-Event-ID can't be honoured exactly. */
export type GapReason =
  /** Events after the id were evicted from a channel's buffer. */
  | 'evicted'
  /** The id is not one this hub issued (malformed, or ahead of its counter). */
  | 'unknown'
  /** The id comes from a history the store has lost (an earlier process, a Redis that lost its data). */
  | 'stale';

/** One channel's part of a gap: `reason` null means that channel's replay is complete. */
export interface ChannelGap {
  reason: GapReason | null;
  /** The oldest id this channel still holds, or null when it holds nothing. */
  oldestId: string | null;
}

export interface ReplayResult {
  /** Events after the id on the requested channels, merged in id order. */
  events: StoredEvent[];
  /** Set when the id could not be honoured exactly; `events` then holds what is still available. */
  gap?: {
    reason: GapReason;
    /** The oldest id still available over all the channels, or null. */
    oldestId: string | null;
    /** Per channel: whether its replayed range is complete (`reason: null`) or not, and its oldest id. */
    channels?: Record<string, ChannelGap>;
  };
  /**
   * The newest id the store had issued when it read (the snapshot), or null if none yet. For a
   * read without an id, the hub hands it to the client as its position: there, an empty history
   * gives `<epoch>-0` (before the first event) rather than null, so the client has one anyway.
   */
  headId: string | null;
  /**
   * Every event of these channels up to this seq was in the snapshot (or at or before the
   * client's id): the newest seq in the current epoch when it read, or, for a run's channel whose
   * producer reserves its ids ahead, that channel's last event (or the client's id if later).
   */
  headSeq: number;
}

export interface StoreListener {
  /** Events of the subscribed channel, in id order. */
  event(event: StoredEvent): void;
  /**
   * The channel was closed (possibly by another process). `final` is the closer's last event,
   * an encoded frame, for every process to send before ending its streams.
   */
  closed(final?: Buffer): void;
}

/** How a listener needs its channel's events ordered (an optional hint to `subscribe`). */
export interface StoreSubscribeOptions {
  /**
   * Every local subscriber of this channel watches it alone (a run's followers), so only the
   * channel's own order matters, not the order across channels. A store may then deliver this
   * process's own appends as soon as they are stored (no read back), and needn't wait to level
   * the channel with the others before `subscribe` resolves. Order within the channel, and no
   * gap and no duplicate, still hold.
   */
  channelOrderOnly?: boolean;
}

export interface StoreStats {
  kind: string;
  /** Channels that hold history in this store (as far as this process knows). */
  channels: number;
  bufferedEvents: number;
  bufferedBytes: number;
  /** Store-specific state, e.g. a Redis connection status. */
  [key: string]: unknown;
}

export interface EventStore {
  /** Assigns the next id, stores `body` (encoded fields without id) and delivers it. Returns the id. */
  append(channel: string, body: string, event: string | undefined): Promise<string>;
  /**
   * Optional: the same as `append`, done synchronously. A store that can (in memory) lets the hub
   * skip a promise hop per publish.
   */
  appendNow?(channel: string, body: string, event: string | undefined): string;
  /** Everything after `lastEventId` on `channels`, or a gap. `undefined` means a fresh client. */
  readAfter(channels: readonly string[], lastEventId: string | undefined): Promise<ReplayResult>;
  /**
   * Starts delivering `channel`'s new events to `listener`. Resolves once every event appended
   * after that point will be delivered, so a following `readAfter` can't leave a hole.
   */
  subscribe(
    channel: string,
    listener: StoreListener,
    options?: StoreSubscribeOptions,
  ): Promise<() => void>;
  /** Marks a channel closed for good and drops its history; `final` (a frame) goes to every process. */
  closeChannel(channel: string, final?: Buffer): Promise<void>;
  /** Lets a closed channel be used again (e.g. a user's channel after they log in again). */
  reopenChannel(channel: string): Promise<void>;
  isClosed(channel: string): Promise<boolean>;
  /** Optional: run state, for resumable runs (`hub.startRun`). Without it the hub refuses runs. */
  readonly runs?: RunStore;
  stats(): StoreStats;
  close(): Promise<void>;
}
