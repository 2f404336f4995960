/** The embedded default store: per-channel replay buffers in this process's memory. */
import { ChannelClosedError } from '../errors.js';
import { formatEventId, newEpoch, parseEventId } from '../wire/event-id.js';
import { MemoryRunStore } from './memory-runs.js';
import {
  DEFAULT_MAX_EVENTS,
  ReplayBuffer,
  type ReplayLimits,
  type StoredEvent,
} from './replay-buffer.js';
import type {
  ChannelGap,
  EventStore,
  GapReason,
  ReplayResult,
  StoreListener,
  StoreStats,
} from './store.js';

export interface MemoryStoreOptions extends ReplayLimits {}

interface ChannelHistory {
  buffer: ReplayBuffer;
  /** Usually one (this process's hub); several hubs may share one memory store. */
  listeners: StoreListener[];
}

/** Merges per-channel runs (each sorted by seq) into one run sorted by seq. */
export function mergeBySeq(runs: StoredEvent[][]): StoredEvent[] {
  const nonEmpty = runs.filter((run) => run.length > 0);
  if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
  return nonEmpty.flat().sort((a, b) => a.seq - b.seq);
}

/** Freed channels whose eviction floor is remembered by name; bounds that memory. */
const MAX_REMEMBERED_FLOORS = 10_000;

export class MemoryStore implements EventStore {
  /** A new epoch per store: ids from an earlier process are recognisably stale. */
  readonly epoch = newEpoch();
  private seq = 0;
  private readonly channels = new Map<string, ChannelHistory>();
  private readonly closedChannels = new Set<string>();
  /** What freed channels had lost to eviction, so a resume on one is still told of its gap. */
  private readonly freedFloors = new Map<string, number>();
  /** The highest such floor among channels too old to be remembered one by one. */
  private forgottenFloor = 0;
  private sweeper: NodeJS.Timeout | undefined;
  /** Run state for resumable runs, kept beside the channels. */
  readonly runs: MemoryRunStore = new MemoryRunStore(this);

  constructor(private readonly limits: MemoryStoreOptions = {}) {
    const maxAge = limits.maxAgeMs;
    if (maxAge !== undefined) {
      // One sweep frees channels whose events all aged out, even if nobody publishes again.
      this.sweeper = setInterval(() => this.sweep(Date.now()), Math.max(maxAge, 1000));
      this.sweeper.unref();
    }
  }

  async append(channel: string, body: string, event: string | undefined): Promise<string> {
    return this.appendNow(channel, body, event);
  }

  /** Synchronous append; the hub's in-memory fast path. */
  appendNow(channel: string, body: string, event: string | undefined): string {
    if (this.closedChannels.has(channel)) throw new ChannelClosedError(channel);
    const seq = ++this.seq;
    const id = formatEventId(this.epoch, seq);
    const time = Date.now();
    const history = this.history(channel);
    // Stored compactly; an event object is made only for listeners (the hub's live fan-out).
    const frame = history.buffer.append(id, seq, body, event, time);
    if (history.listeners.length === 0) return id;
    const stored: StoredEvent = { channel, id, seq, event, frame, time };
    for (const listener of history.listeners) listener.event(stored);
    return id;
  }

  async readAfter(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): Promise<ReplayResult> {
    return this.readAfterNow(channels, lastEventId);
  }

  readAfterNow(channels: readonly string[], lastEventId: string | undefined): ReplayResult {
    const head = {
      // A fresh read always gets a position, even before the first event (store.ts, `headId`).
      headId:
        this.seq > 0 || lastEventId === undefined ? formatEventId(this.epoch, this.seq) : null,
      headSeq: this.seq,
    };
    if (lastEventId === undefined) return { events: [], ...head };
    const now = Date.now();
    const position = parseEventId(lastEventId);
    let reason: GapReason | undefined;
    let after = 0;
    if (position && position.epoch !== this.epoch) reason = 'stale';
    else if (!position || position.seq > this.seq) reason = 'unknown';
    else after = position.seq;
    const runs: StoredEvent[][] = [];
    const detail: Record<string, ChannelGap> = {};
    let oldest: StoredEvent | undefined;
    for (const channel of channels) {
      const history = this.channels.get(channel);
      // Age out first: what expires now is part of the gap this read must report.
      history?.buffer.evictExpired(now);
      const floor = history ? history.buffer.evictedUpTo : this.floorOf(channel);
      const first = history?.buffer.oldest;
      const own = reason ?? (floor > after ? 'evicted' : null);
      detail[channel] = { reason: own, oldestId: first?.id ?? null };
      if (first && (!oldest || first.seq < oldest.seq)) oldest = first;
      if (history) runs.push(history.buffer.after(after));
    }
    const events = mergeBySeq(runs);
    reason ??= Object.values(detail).some((d) => d.reason !== null) ? 'evicted' : undefined;
    if (reason === undefined) return { events, ...head };
    return { events, gap: { reason, oldestId: oldest?.id ?? null, channels: detail }, ...head };
  }

  async subscribe(channel: string, listener: StoreListener): Promise<() => void> {
    const history = this.history(channel);
    history.listeners = [...history.listeners, listener];
    return () => {
      history.listeners = history.listeners.filter((l) => l !== listener);
      this.freeIfEmpty(channel, history);
    };
  }

  async closeChannel(channel: string, final?: Buffer): Promise<void> {
    this.closedChannels.add(channel);
    const history = this.channels.get(channel);
    this.channels.delete(channel);
    // Its history is gone: a resume after a reopen must hear of the gap.
    this.rememberFloor(channel, this.seq);
    for (const listener of history?.listeners ?? []) listener.closed(final);
  }

  async reopenChannel(channel: string): Promise<void> {
    this.closedChannels.delete(channel);
  }

  async isClosed(channel: string): Promise<boolean> {
    return this.closedChannels.has(channel);
  }

  stats(): StoreStats {
    let bufferedEvents = 0;
    let bufferedBytes = 0;
    let heldBytes = 0;
    for (const { buffer } of this.channels.values()) {
      bufferedEvents += buffer.size;
      bufferedBytes += buffer.byteSize;
      heldBytes += buffer.capacityBytes;
    }
    return {
      kind: 'memory',
      channels: this.channels.size,
      bufferedEvents,
      bufferedBytes,
      // What the history holds in memory: the frames' bytes plus slab room not yet used and rows.
      heldBytes,
      epoch: this.epoch,
    };
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.runs.clear();
  }

  /** Forgets a channel's history (an expired run's). */
  dropChannel(channel: string): void {
    this.channels.delete(channel);
  }

  private history(channel: string): ChannelHistory {
    let history = this.channels.get(channel);
    if (!history) {
      history = {
        buffer: new ReplayBuffer(
          { ...this.limits, maxEvents: this.limits.maxEvents ?? DEFAULT_MAX_EVENTS },
          { channel, epoch: this.epoch },
        ),
        listeners: [],
      };
      // A channel made again remembers what its freed predecessor lost.
      history.buffer.evictedUpTo = this.floorOf(channel);
      this.freedFloors.delete(channel);
      this.channels.set(channel, history);
    }
    return history;
  }

  private freeIfEmpty(channel: string, history: ChannelHistory): void {
    if (
      history.listeners.length > 0 ||
      history.buffer.size > 0 ||
      this.channels.get(channel) !== history
    )
      return;
    this.channels.delete(channel);
    this.rememberFloor(channel, history.buffer.evictedUpTo);
  }

  private rememberFloor(channel: string, floor: number): void {
    if (floor <= this.forgottenFloor) return;
    this.freedFloors.delete(channel);
    this.freedFloors.set(channel, floor);
    if (this.freedFloors.size > MAX_REMEMBERED_FLOORS) {
      // Forget the oldest; its floor joins the shared one (a conservative gap, never a silent one).
      const [oldest, oldestFloor] = this.freedFloors.entries().next().value as [string, number];
      this.freedFloors.delete(oldest);
      this.forgottenFloor = Math.max(this.forgottenFloor, oldestFloor);
    }
  }

  private floorOf(channel: string): number {
    return Math.max(this.freedFloors.get(channel) ?? 0, this.forgottenFloor);
  }

  private sweep(now: number): void {
    for (const [channel, history] of this.channels) {
      history.buffer.evictExpired(now);
      this.freeIfEmpty(channel, history);
    }
  }
}

export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options);
}
