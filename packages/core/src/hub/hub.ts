/**
 * The hub: named channels, one id sequence across all of them, encode-once publish, per-tick
 * coalesced fan-out, and exact resume from Last-Event-ID.
 */
import {
  encodeEvent,
  encodeEventBody,
  jsonSerializer,
  type Serializer,
  type SseEventInit,
} from './encode.js';
import { AlreadySubscribedError, HubClosedError, SseRefusal } from './errors.js';
import type { RequestLike } from './last-event-id.js';
import { MemoryStore } from './memory-store.js';
import type { ReplayLimits, StoredEvent } from './replay-buffer.js';
import type { CloseReason, SseStream } from './sse-stream.js';
import type { ChannelGap, EventStore, GapReason, ReplayResult, StoreStats } from './store.js';

/** Channel name -> payload type. `Record<string, unknown>` when untyped. */
export type EventMap = Record<string, unknown>;
export type ChannelOf<Events extends EventMap> = keyof Events & string;

/**
 * The event map an adapter's `Register` interface declares (`{ events }` or `{ hub }`), else
 * untyped. Lets an app type `res.sse` / `reply.sse` once, through declaration merging.
 */
export type EventsOf<R> = R extends { events: infer E extends EventMap }
  ? E
  : R extends { hub: Hub<infer E> }
    ? E
    : EventMap;

/** `(request, channel) => boolean`: checked for every channel before the stream starts. */
export type Authorize = (
  request: RequestLike | undefined,
  channel: string,
) => boolean | Promise<boolean>;

/** What a per-client filter sees of an event. */
export interface EventMeta {
  channel: string;
  id: string;
  event: string | undefined;
}

/** Told to the client (and to `onGap`) when its Last-Event-ID can't be honoured exactly. */
export interface GapNotice {
  reason: GapReason;
  /** The id the client sent. */
  lastEventId: string;
  /** The oldest id still available on its channels, or null when nothing is buffered. */
  oldestId: string | null;
  channels: string[];
  /**
   * Per channel: `reason` null where that channel's replay is complete, else why not, and the
   * oldest id it still holds. Lets a client on several channels tell which ranges are whole.
   */
  byChannel: Record<string, ChannelGap>;
  /** Whether the available events follow (`gap.replay: 'available'`) or not (`'none'`). */
  replay: 'available' | 'none';
}

export interface GapOptions {
  /** Event type of the gap signal. Default `ssekit-gap`. */
  event?: string;
  /** After the signal, replay what is still buffered (`'available'`, default) or nothing (`'none'`). */
  replay?: 'available' | 'none';
}

export interface HubOptions {
  /** Where ids and history live. Default: an in-memory store with `replay` limits. */
  store?: EventStore;
  /** Per-channel replay buffer limits for the default in-memory store. */
  replay?: ReplayLimits;
  gap?: GapOptions;
  /** Runs after the gap signal and before any replay, e.g. to send a fresh snapshot. */
  onGap?: (notice: GapNotice, stream: SseStream) => void | Promise<void>;
  /** Default authorization for every subscribe. */
  authorize?: Authorize;
  /** Serializer for non-string data. Default JSON. */
  serializer?: Serializer;
}

export interface SubscribeOptions {
  /** Overrides the stream's Last-Event-ID. */
  lastEventId?: string | undefined;
  request?: RequestLike;
  /** Per-client filter: only matching events are written to this client. */
  filter?: (event: EventMeta) => boolean;
  /** Overrides the hub's authorize hook for this subscription. */
  authorize?: Authorize;
  /** Overrides the hub's gap replay policy for this subscription. */
  gapReplay?: 'available' | 'none';
}

export interface PublishOptions {
  /** Event type; the client's `addEventListener(event, ...)` receives it. */
  event?: string;
}

export interface CloseOptions {
  /** A last event sent to each client before its stream ends. */
  final?: SseEventInit;
}

export interface HubStats {
  clients: number;
  channels: number;
  bufferedEvents: number;
  bufferedBytes: number;
  eventsPublished: number;
  framesWritten: number;
  replaysServed: number;
  gapsSignalled: number;
  droppedForOverflow: number;
  store: StoreStats;
}

class Subscription {
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

class ChannelState {
  readonly subscribers = new Set<Subscription>();
  unsubscribe: (() => void) | undefined;
  ready: Promise<void> | undefined;
}

/**
 * Largest Buffer the hub hands a stream in one write. A tick's batch (or a replay) is cut into
 * pieces of at most this size, so the stream's byte bound applies whatever the batching: a
 * client that stops reading holds at most one piece in the socket plus `maxQueueBytes` queued.
 */
const MAX_PIECE_BYTES = 256 * 1024;

/** Joins events' frames into as few Buffers as possible, each at most MAX_PIECE_BYTES (or one frame). */
function joinPieces(events: StoredEvent[]): Buffer[] {
  if (events.length === 1) return [events[0]!.frame];
  const pieces: Buffer[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const size = events[i]!.frame.length;
    if (i > start && bytes + size > MAX_PIECE_BYTES) {
      pieces.push(concatFrames(events, start, i, bytes));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < events.length) pieces.push(concatFrames(events, start, events.length, bytes));
  return pieces;
}

function concatFrames(events: StoredEvent[], from: number, to: number, bytes: number): Buffer {
  if (to - from === 1) return events[from]!.frame;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = from; i < to; i++) at += events[i]!.frame.copy(out, at);
  return out;
}

/** Writes pieces in order; stops (false) once the stream refuses one (closed or overflowed). */
function writeAll(stream: SseStream, pieces: Buffer[]): boolean {
  for (const piece of pieces) if (!stream.write(piece)) return false;
  return true;
}

export class Hub<Events extends EventMap = EventMap> {
  readonly store: EventStore;
  private readonly options: HubOptions;
  private readonly channels = new Map<string, ChannelState>();
  private readonly streams = new Set<SseStream>();
  private batch: StoredEvent[] = [];
  private flushScheduled = false;
  private flushMark = 0;
  private closing = false;
  /** `close()`'s final event, for streams that reach the hub after it closed. */
  private finalFrame: Buffer | undefined;
  /** Streams that called subscribe once: a second call is refused. */
  private readonly subscribed = new WeakSet<SseStream>();
  private counters = {
    eventsPublished: 0,
    framesWritten: 0,
    replaysServed: 0,
    gapsSignalled: 0,
    droppedForOverflow: 0,
  };

  constructor(options: HubOptions = {}) {
    // Checked here, not on the first gap signal of a live stream.
    if (options.gap?.event !== undefined) encodeEvent({ event: options.gap.event });
    this.options = options;
    this.store = options.store ?? new MemoryStore(options.replay);
  }

  /**
   * Publishes one event: assigns its id, encodes it once, stores it for replay, and writes the
   * same bytes to every subscriber (coalesced with the other events of this tick). Resolves to the id.
   */
  publish<C extends ChannelOf<Events>>(
    channel: C,
    data: Events[C],
    options: PublishOptions = {},
  ): Promise<string> {
    // Read once: a getter can't give the encoder one event type and the store another.
    const event = options.event;
    let body: string;
    try {
      assertChannel(channel);
      body = encodeEventBody({ data, event }, this.options.serializer ?? jsonSerializer);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.closing) return Promise.reject(new HubClosedError());
    const store = this.store;
    if (store.appendNow) {
      // A store that appends synchronously (in memory): skip a promise hop per event.
      try {
        const id = store.appendNow(channel, body, event);
        this.counters.eventsPublished++;
        return Promise.resolve(id);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return store.append(channel, body, event).then((id) => {
      this.counters.eventsPublished++;
      return id;
    });
  }

  /**
   * Subscribes a stream to channels. Authorization and closed channels are checked first and
   * refused with an `SseRefusal` (403 / 204) before any header is sent. Then the client gets,
   * in id order, exactly the events after its Last-Event-ID (or a gap signal), then live ones.
   */
  async subscribe(
    stream: SseStream,
    channels: ChannelOf<Events> | readonly ChannelOf<Events>[],
    options: SubscribeOptions = {},
  ): Promise<void> {
    const names = channelNames(channels);
    // Marked before any await, so a second call (even while the first is pending) is refused.
    if (this.subscribed.has(stream)) throw new AlreadySubscribedError();
    this.subscribed.add(stream);
    const authorize = options.authorize ?? this.options.authorize;
    if (authorize) {
      for (const name of names) {
        if (!(await authorize(options.request, name))) throw new SseRefusal(403, name);
      }
    }
    for (const name of names) {
      if (await this.store.isClosed(name)) throw new SseRefusal(204, name);
    }
    if (stream.closed) return;
    if (this.closing) {
      stream.shutdown(this.finalFrame);
      return;
    }
    this.track(stream);
    const sub = new Subscription(this, stream, names, options.filter);
    stream.onClose(sub);
    let result: ReplayResult;
    const lastEventId = options.lastEventId ?? stream.lastEventId;
    try {
      // Live first (queued in the backlog), then the snapshot: nothing published meanwhile is lost.
      await Promise.all(names.map((name) => this.join(name, sub)));
      result = await this.store.readAfter(names, lastEventId);
    } catch (error) {
      // A failed join leaves nothing behind: the next subscribe starts clean.
      this.remove(sub);
      throw error;
    }
    if (stream.closed) return;
    stream.start();
    if (stream.closed) return; // e.g. a HEAD request
    let replay = result.events;
    if (lastEventId !== undefined && result.gap) {
      const policy = options.gapReplay ?? this.options.gap?.replay ?? 'available';
      if (policy === 'none') replay = [];
      if (!(await this.signalGap(stream, names, lastEventId, result, policy, replay.length)))
        return;
    } else if (lastEventId !== undefined) {
      this.counters.replaysServed++;
    }
    const wanted = replay.filter((e) => !sub.filter || sub.wants(e));
    // Paced by the client's reads: a long replay never sits in memory beyond one piece.
    for (const piece of joinPieces(wanted)) {
      stream.write(piece);
      await stream.drained();
      if (stream.closed) return;
    }
    this.counters.framesWritten += wanted.length;
    sub.skipUpTo = replay.length > 0 ? replay[replay.length - 1]!.seq : result.headSeq;
    // A store may deliver a channel it just started reading after newer events of others.
    const backlog = sub.backlog.filter((e) => sub.wants(e)).sort((a, b) => a.seq - b.seq);
    sub.backlog = [];
    sub.backlogBytes = 0;
    sub.live = true;
    if (backlog.length > 0) this.writeEvents(sub, backlog);
  }

  /** Writes the gap signal and runs `onGap`. False when the stream ended meanwhile. */
  private async signalGap(
    stream: SseStream,
    names: string[],
    lastEventId: string,
    result: ReplayResult,
    policy: 'available' | 'none',
    replayed: number,
  ): Promise<boolean> {
    const { channels: detail, ...gap } = result.gap!;
    const byChannel: Record<string, ChannelGap> = {};
    // A store without per-channel detail: every channel is reported as incomplete.
    for (const name of names)
      byChannel[name] = detail?.[name] ?? { reason: gap.reason, oldestId: gap.oldestId };
    const notice: GapNotice = { ...gap, lastEventId, channels: names, byChannel, replay: policy };
    this.counters.gapsSignalled++;
    stream.write(
      encodeEvent({
        event: this.options.gap?.event ?? 'ssekit-gap',
        data: JSON.stringify(notice),
        // With nothing to replay, move the client to the snapshot so its next reconnect is exact.
        // An empty history resets it (`id:` empty), so the browser stops sending the stale id.
        ...(replayed === 0 ? { id: result.headId ?? '' } : {}),
      }),
    );
    try {
      await this.options.onGap?.(notice, stream);
    } catch (error) {
      stream.fail(error);
      return false;
    }
    return !stream.closed;
  }

  /** Closes a channel for good: its clients' streams end, and their next connect gets 204. */
  async closeChannel(channel: ChannelOf<Events>, options: CloseOptions = {}): Promise<void> {
    this.flush();
    // Encoded once; the store hands it to every process's `closed` notice (this one's included).
    const final = options.final ? encodeEvent(options.final, this.options.serializer) : undefined;
    await this.store.closeChannel(channel, final);
    // For a store that doesn't notify: a no-op once the notice has ended the streams.
    this.endChannel(channel, final);
  }

  /**
   * Lets a closed channel be published to and subscribed to again. Closed channels are remembered
   * until then (so a per-user channel that is closed for good costs its name).
   */
  reopenChannel(channel: ChannelOf<Events>): Promise<void> {
    return this.store.reopenChannel(channel);
  }

  /** Ends the streams of a closed channel, after the closer's final event if it gave one. */
  private endChannel(channel: string, final: Buffer | undefined): void {
    this.flush();
    const state = this.channels.get(channel);
    if (!state) return;
    for (const sub of [...state.subscribers]) {
      if (final) sub.stream.write(final);
      sub.stream.close();
    }
  }

  /** Ends every stream (optionally after a final event) and closes the store. */
  async close(options: CloseOptions = {}): Promise<void> {
    // Encoded first, once for every stream: a bad final event rejects before anything changes.
    const final = options.final
      ? encodeEvent(options.final, this.options.serializer ?? jsonSerializer)
      : undefined;
    if (!this.closing) {
      this.closing = true;
      this.finalFrame = final;
    }
    this.flush();
    for (const stream of [...this.streams]) stream.shutdown(this.finalFrame);
    await this.store.close();
  }

  /** Lets `close()` end this stream too, even if it never subscribes (e.g. a piped AI stream). */
  track(stream: SseStream): void {
    if (this.closing) {
      // A stream that was still subscribing when the hub closed gets the final event too.
      stream.shutdown(this.finalFrame);
      return;
    }
    if (this.streams.has(stream)) return;
    this.streams.add(stream);
    stream.onClose(this);
  }

  /** @internal A tracked stream closed. */
  streamClosed(stream: SseStream): void {
    this.streams.delete(stream);
  }

  /** @internal A subscribed stream closed: drop its subscription. */
  subscriptionClosed(sub: Subscription, reason: CloseReason): void {
    if (reason === 'overflow') this.counters.droppedForOverflow++;
    this.remove(sub);
  }

  stats(): HubStats {
    const store = this.store.stats();
    return {
      clients: this.streams.size,
      channels: store.channels,
      bufferedEvents: store.bufferedEvents,
      bufferedBytes: store.bufferedBytes,
      ...this.counters,
      store,
    };
  }

  private async join(name: string, sub: Subscription): Promise<void> {
    let state = this.channels.get(name);
    if (!state) {
      const created = new ChannelState();
      state = created;
      this.channels.set(name, created);
      created.ready = this.store
        .subscribe(name, {
          event: (event) => this.enqueue(event),
          closed: (final) => this.endChannel(name, final),
        })
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

  private remove(sub: Subscription): void {
    for (const name of sub.channels) {
      const state = this.channels.get(name);
      if (!state) continue;
      state.subscribers.delete(sub);
      if (state.subscribers.size === 0 && state.unsubscribe) this.release(name, state);
    }
  }

  private release(name: string, state: ChannelState): void {
    if (this.channels.get(name) === state) this.channels.delete(name);
    const unsubscribe = state.unsubscribe;
    state.unsubscribe = undefined;
    unsubscribe?.();
  }

  /** Queues live events for a client whose replay is still being read; bounded like its queue. */
  private hold(sub: Subscription, events: StoredEvent[]): void {
    for (const event of events) sub.backlogBytes += event.frame.length;
    if (sub.backlogBytes > sub.stream.queueLimit) {
      // Like any overflow: the client reconnects and resumes from the replay buffer.
      sub.backlog = [];
      sub.stream.overflowed();
      return;
    }
    sub.backlog.push(...events);
  }

  private enqueue(event: StoredEvent): void {
    this.batch.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One flush per tick: a burst of publishes becomes one write per client.
      setImmediate(() => this.flush());
    }
  }

  /** Writes the tick's events: one joined Buffer per channel, shared by its simple subscribers. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
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
      const first = events[0]!.seq;
      for (const sub of state.subscribers) {
        if (sub.mark === mark) continue;
        if (sub.live && sub.simple && first > sub.skipUpTo) {
          pieces ??= joinPieces(events);
          if (writeAll(sub.stream, pieces)) this.counters.framesWritten += events.length;
          continue;
        }
        // Several channels, a filter, a pending replay, or a possible duplicate: pick per client,
        // from the whole batch so the order across channels holds.
        sub.mark = mark;
        const picked = batch.filter((e) => sub.wants(e));
        if (picked.length === 0) continue;
        if (!sub.live) this.hold(sub, picked);
        else this.writeEvents(sub, picked);
      }
    }
  }

  private writeEvents(sub: Subscription, events: StoredEvent[]): void {
    if (writeAll(sub.stream, joinPieces(events))) this.counters.framesWritten += events.length;
  }
}

function assertChannel(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '')
    throw new TypeError('ssekit: a channel name must be a non-empty string');
}

/**
 * The distinct channel names of a subscribe. They usually come from the request (a route param),
 * so anything but non-empty strings is the client's error: a 400 refusal, not a 500.
 */
function channelNames(channels: unknown): string[] {
  const list = typeof channels === 'string' ? [channels] : channels;
  if (!Array.isArray(list) || list.length === 0)
    throw new SseRefusal(
      400,
      String(channels),
      'ssekit: subscribe() needs at least one channel name',
    );
  for (const name of list)
    if (typeof name !== 'string' || name === '')
      throw new SseRefusal(
        400,
        String(name),
        `ssekit: a channel name must be a non-empty string, got ${describeValue(name)}`,
      );
  return [...new Set(list as string[])];
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}

/** Creates a hub. Pass an event map to type channels and payloads: `createHub<{ prices: Price }>()`. */
export function createHub<Events extends EventMap = EventMap>(
  options: HubOptions = {},
): Hub<Events> {
  return new Hub<Events>(options);
}
