/** One client's subscription (its channels, filter, replay handover state) and a channel's subscribers. */
import type { StoredEvent } from '../store/replay-buffer.js';
import type { CloseReason, SseStream } from '../stream/sse-stream.js';
import type { EventMeta } from './types.js';

export interface SubscriptionEnd {
  on: ReadonlySet<string>;
  frame: Buffer | undefined;
}

export class Subscription {
  /** Replayed or queued up to this seq: live events at or below it are duplicates. */
  skipUpTo = 0;
  live = false;
  /** Live events held while the replay is read; made only when one arrives meanwhile. */
  backlog: StoredEvent[] | undefined;
  backlogBytes = 0;
  mark = 0;
  /** The limit key this subscription counts against, until it ends. */
  limitKey: string | undefined;
  readonly channelSet: Set<string> | undefined;
  /** Single channel, no filter, no end: takes the shared joined Buffer as is. */
  readonly simple: boolean;
  constructor(
    readonly hub: { subscriptionClosed(sub: Subscription, reason: CloseReason): void },
    readonly stream: SseStream,
    readonly channels: string[],
    readonly filter: ((event: EventMeta) => boolean) | undefined,
    /** Event types after which the stream ends (a run's terminal events), and what replaces them. */
    readonly end: SubscriptionEnd | undefined,
  ) {
    this.channelSet = channels.length > 1 ? new Set(channels) : undefined;
    this.simple = channels.length === 1 && !filter && !end;
  }

  /**
   * Cuts `events` at the first one that ends the stream: what to write, and whether to close after.
   * The ending event is written as is, or replaced by `end.frame` (e.g. OpenAI's `data: [DONE]`).
   */
  cut(events: StoredEvent[]): { frames: StoredEvent[]; ends: boolean } {
    const end = this.end;
    if (!end) return { frames: events, ends: false };
    const at = events.findIndex((e) => e.event !== undefined && end.on.has(e.event));
    if (at < 0) return { frames: events, ends: false };
    const frames = events.slice(0, at + 1);
    if (end.frame) frames[at] = { ...frames[at]!, frame: end.frame };
    return { frames, ends: true };
  }
  /** Close listener: as an object, the subscription costs its stream no closure. */
  streamClosed(_stream: SseStream, reason: CloseReason): void {
    this.hub.subscriptionClosed(this, reason);
  }
  wants(event: StoredEvent): boolean {
    if (event.seq <= this.skipUpTo) return false;
    if (this.channelSet ? !this.channelSet.has(event.channel) : event.channel !== this.channels[0])
      return false;
    return (
      !this.filter || this.filter({ channel: event.channel, id: event.id, event: event.event })
    );
  }
}

export class ChannelState {
  readonly subscribers = new Set<Subscription>();
  unsubscribe: (() => void) | undefined;
  ready: Promise<void> | undefined;
}
