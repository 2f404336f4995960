/** One client's subscription (its channels, filter, replay handover state) and a channel's subscribers. */
import type { StoredEvent } from '../store/replay-buffer.js';
import type { CloseReason, SseStream } from '../stream/sse-stream.js';
import type { EventMeta } from './types.js';

export class Subscription {
  /** Replayed or queued up to this seq: live events at or below it are duplicates. */
  skipUpTo = 0;
  live = false;
  backlog: StoredEvent[] = [];
  backlogBytes = 0;
  mark = 0;
  readonly channelSet: Set<string> | undefined;
  /** Single channel and no filter: takes the shared joined Buffer as is. */
  readonly simple: boolean;
  constructor(
    readonly hub: { subscriptionClosed(sub: Subscription, reason: CloseReason): void },
    readonly stream: SseStream,
    readonly channels: string[],
    readonly filter: ((event: EventMeta) => boolean) | undefined,
  ) {
    this.channelSet = channels.length > 1 ? new Set(channels) : undefined;
    this.simple = channels.length === 1 && !filter;
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
