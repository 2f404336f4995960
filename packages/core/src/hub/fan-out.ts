/**
 * Fan-out: the channels this hub has subscribers on, and the per-tick flush that writes a tick's
 * events to them as shared, bounded Buffers (or per client, where it has several channels, a
 * filter, or a replay still pending).
 */
import type { StoredEvent } from '../store/replay-buffer.js';
import type { EventStore, StoreSubscribeOptions } from '../store/store.js';
import { isRunChannel } from './channel-names.js';
import { joinPieces, writeAll } from './pieces.js';
import { ChannelState, type Subscription } from './subscription.js';
import type { HubCounters, Telemetry } from './telemetry.js';

/**
 * A run's chunk is flushed at the end of the task that made it once this long has passed since the
 * last flush; sooner, it waits for the tick's flush with the others (docs/decisions.md).
 */
const RUN_FLUSH_GAP_MS = 1;
/** A run's channel is only ever followed alone (channel-names.ts). */
const CHANNEL_ORDER_ONLY: StoreSubscribeOptions = { channelOrderOnly: true };

/** What the fan-out needs of its hub. */
export interface FanOutHost {
  readonly store: EventStore;
  readonly counters: HubCounters;
  readonly telemetry: Telemetry | undefined;
}

export class FanOut {
  private readonly channels = new Map<string, ChannelState>();
  private batch: StoredEvent[] = [];
  private flushScheduled = false;
  /** A flush is due at the end of this task (a run's chunk is in the batch). */
  private flushSoon = false;
  /** When the last flush with events ran (performance.now()). */
  private lastFlush = 0;
  /** A flush is running; channel ends asked for meanwhile wait for its events. */
  private flushing = false;
  private readonly endsAfterFlush: Array<[channel: string, final: Buffer | undefined]> = [];
  private flushMark = 0;
  /** Enqueue times of the batch's events, only with telemetry (for publish-to-write latency). */
  private batchTimes: number[] = [];

  constructor(private readonly host: FanOutHost) {}

  /** Subscribers of `name` on this process. */
  subscribersOf(name: string): number {
    return this.channels.get(name)?.subscribers.size ?? 0;
  }

  /** Takes `sub` off its channels, releasing a channel's store subscription with its last subscriber. */
  leave(sub: Subscription): void {
    for (const name of sub.channels) {
      const state = this.channels.get(name);
      if (!state) continue;
      state.subscribers.delete(sub);
      if (state.subscribers.size === 0 && state.unsubscribe) this.release(name, state);
    }
  }

  /** Ends the streams of a closed channel, after the closer's final event if it gave one. */
  endChannel(channel: string, final: Buffer | undefined): void {
    if (this.flushing) {
      // Asked from inside a flush (a stream's close handler): after the events queued before it.
      this.endsAfterFlush.push([channel, final]);
      return;
    }
    this.flush();
    this.end(channel, final);
  }

  private end(channel: string, final: Buffer | undefined): void {
    const state = this.channels.get(channel);
    if (!state) return;
    for (const sub of [...state.subscribers]) {
      if (final) sub.stream.write(final);
      sub.stream.close();
    }
  }

  async join(name: string, sub: Subscription): Promise<void> {
    let state = this.channels.get(name);
    if (!state) {
      const created = new ChannelState();
      state = created;
      this.channels.set(name, created);
      created.ready = this.host.store
        .subscribe(
          name,
          {
            event: (event) => this.enqueue(event),
            closed: (final) => this.endChannel(name, final),
          },
          isRunChannel(name) ? CHANNEL_ORDER_ONLY : undefined,
        )
        .then(
          (unsubscribe) => {
            created.unsubscribe = unsubscribe;
            if (created.subscribers.size === 0) this.release(name, created);
          },
          (error: unknown) => {
            // Forget the failed state, so the next subscribe asks the store again.
            if (this.channels.get(name) === created) this.channels.delete(name);
            throw error;
          },
        );
    }
    state.subscribers.add(sub);
    await state.ready;
  }

  private release(name: string, state: ChannelState): void {
    if (this.channels.get(name) === state) this.channels.delete(name);
    const unsubscribe = state.unsubscribe;
    state.unsubscribe = undefined;
    unsubscribe?.();
  }

  /** Queues live events for a client whose replay is still being read; bounded like its queue. */
  private hold(sub: Subscription, events: StoredEvent[]): void {
    const backlog = sub.backlog!;
    for (const event of events) backlog.bytes += event.frame.length;
    if (backlog.bytes > sub.stream.queueLimit) {
      // Like any overflow: the client reconnects and resumes from the replay buffer.
      backlog.events = undefined;
      sub.stream.overflowed();
      return;
    }
    if (backlog.events) backlog.events.push(...events);
    else backlog.events = events;
  }

  private enqueue(event: StoredEvent): void {
    this.batch.push(event);
    if (this.host.telemetry) this.batchTimes.push(performance.now());
    // (Due at the end of this task already: it takes this event too.)
    if (this.flushSoon) return;
    if (isRunChannel(event.channel) && performance.now() - this.lastFlush >= RUN_FLUSH_GAP_MS) {
      // A run's chunks come one per step of its source (a timer, a socket read): waiting for the
      // turn's end put each behind every other timer of a busy turn. nextTick, not a microtask:
      // it runs once the microtasks are drained, so what one task made still goes together.
      this.flushSoon = true;
      process.nextTick(this.flushNow);
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One flush per tick: a burst of publishes becomes one write per client.
      setImmediate(() => this.flush());
    }
  }

  private readonly flushNow = (): void => {
    this.flushSoon = false;
    this.flush();
  };

  /** Writes the tick's events: one joined Buffer per channel, shared by its simple subscribers. */
  flush(): void {
    this.flushScheduled = false;
    // Asked from inside a flush (a stream's close handler published, or closed a channel): a
    // nested flush would write those newer events before the older ones still to be written.
    // The running flush takes them after its own, in order.
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        if (this.batch.length > 0) this.writeBatch();
        else if (this.endsAfterFlush.length > 0) this.end(...this.endsAfterFlush.shift()!);
        else break;
      }
    } finally {
      this.flushing = false;
    }
  }

  private writeBatch(): void {
    this.lastFlush = performance.now();
    const batch = this.batch;
    this.batch = [];
    const times = this.batchTimes;
    if (this.host.telemetry) this.batchTimes = [];
    const counters = this.host.counters;
    const mark = ++this.flushMark;
    const byChannel = new Map<string, StoredEvent[]>();
    for (const event of batch) {
      const run = byChannel.get(event.channel);
      if (run) run.push(event);
      else byChannel.set(event.channel, [event]);
    }
    for (const [name, events] of byChannel) {
      const state = this.channels.get(name);
      if (!state) continue;
      let pieces: Buffer[] | undefined;
      let bytes = 0;
      const first = events[0]!.seq;
      for (const sub of state.subscribers) {
        if (sub.mark === mark) continue;
        if (sub.live && sub.simple && first > sub.skipUpTo) {
          if (!pieces) {
            pieces = joinPieces(events);
            for (const piece of pieces) bytes += piece.length;
          }
          if (writeAll(sub.stream, pieces)) {
            counters.framesWritten += events.length;
            counters.bytesWritten += bytes;
          }
          continue;
        }
        // Several channels, a filter, a pending replay, or a possible duplicate: pick per client,
        // from the whole batch so the order across channels holds (one channel: from its events,
        // or a tick of many runs would cost runs x events).
        sub.mark = mark;
        const picked = (sub.single ? events : batch).filter((e) => sub.wants(e));
        if (picked.length === 0) continue;
        if (!sub.live) this.hold(sub, picked);
        else this.writeEvents(sub, picked);
      }
    }
    if (this.host.telemetry) this.recordLatency(batch, times);
  }

  /** Publish-to-write latency of each event of a flushed batch that had a subscriber here. */
  private recordLatency(batch: StoredEvent[], times: number[]): void {
    const telemetry = this.host.telemetry!;
    const now = performance.now();
    for (let i = 0; i < batch.length; i++) {
      const at = times[i];
      if (at === undefined) continue;
      const state = this.channels.get(batch[i]!.channel);
      if (state && state.subscribers.size > 0) telemetry.delivered((now - at) / 1000);
    }
  }

  writeEvents(sub: Subscription, events: StoredEvent[]): void {
    const { frames, ends } = sub.cut(events);
    const pieces = joinPieces(frames);
    if (writeAll(sub.stream, pieces)) {
      this.host.counters.framesWritten += frames.length;
      for (const piece of pieces) this.host.counters.bytesWritten += piece.length;
    }
    if (ends) sub.stream.close();
  }
}
