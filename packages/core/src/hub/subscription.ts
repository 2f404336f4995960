/** One client's subscription (its channels, filter, replay handover state) and a channel's subscribers. */
import type { StoredEvent } from '../store/replay-buffer.js';
import type { CloseReason, SseStream } from '../stream/sse-stream.js';
import type { EventMeta } from './types.js';

export interface SubscriptionEnd {
  on: ReadonlySet<string>;
  frame: Buffer | undefined;
}

/** Live events held for a subscription while its replay is read. */
export interface Backlog {
  /** Undefined once the backlog overflowed (the stream is closing). */
  events: StoredEvent[] | undefined;
  bytes: number;
}

/** A subscription's rarely used parts: a filter, or events that end the stream (a run's). */
interface Selection {
  readonly filter: ((event: EventMeta) => boolean) | undefined;
  readonly end: SubscriptionEnd | undefined;
}

/**
 * Eight fields, as one is held per idle connection: one channel is its name (several, a Set),
 * the filter and the end share one object made only when there is one, and the backlog exists
 * only until the subscription is live.
 */
export class Subscription {
  /** Replayed or queued up to this seq: live events at or below it are duplicates. */
  skipUpTo = 0;
  /** Until live: the live events held while the replay is read. Undefined once live. */
  backlog: Backlog | undefined = { events: undefined, bytes: 0 };
  mark = 0;
  /** The limit key this subscription counts against, until it ends. */
  limitKey: string | undefined;
  private readonly names: string | ReadonlySet<string>;
  private readonly selection: Selection | undefined;
  constructor(
    readonly hub: { subscriptionClosed(sub: Subscription, reason: CloseReason): void },
    readonly stream: SseStream,
    channels: readonly string[],
    filter: ((event: EventMeta) => boolean) | undefined,
    /** Event types after which the stream ends (a run's terminal events), and what replaces them. */
    end: SubscriptionEnd | undefined,
  ) {
    this.names = channels.length === 1 ? channels[0]! : new Set(channels);
    this.selection = filter || end ? { filter, end } : undefined;
  }

  get live(): boolean {
    return this.backlog === undefined;
  }
  /** Single channel, no filter, no end: takes the shared joined Buffer as is. */
  get simple(): boolean {
    return this.selection === undefined && typeof this.names === 'string';
  }
  /** Follows one channel only: its events can be picked from that channel's alone. */
  get single(): boolean {
    return typeof this.names === 'string';
  }
  get filter(): ((event: EventMeta) => boolean) | undefined {
    return this.selection?.filter;
  }
  /** The channels, in no particular order. */
  get channels(): Iterable<string> {
    const names = this.names;
    return typeof names === 'string' ? [names] : names;
  }

  /**
   * Cuts `events` at the first one that ends the stream: what to write, and whether to close after.
   * The ending event is written as is, or replaced by `end.frame` (e.g. OpenAI's `data: [DONE]`).
   */
  cut(events: StoredEvent[]): { frames: StoredEvent[]; ends: boolean } {
    const end = this.selection?.end;
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
    const names = this.names;
    if (typeof names === 'string' ? event.channel !== names : !names.has(event.channel))
      return false;
    const filter = this.selection?.filter;
    return !filter || filter({ channel: event.channel, id: event.id, event: event.event });
  }
}

export class ChannelState {
  readonly subscribers = new Set<Subscription>();
  unsubscribe: (() => void) | undefined;
  ready: Promise<void> | undefined;
}
