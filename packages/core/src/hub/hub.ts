/**
 * The hub: named channels, one id sequence across all of them, encode-once publish, per-tick
 * coalesced fan-out, and exact resume from Last-Event-ID.
 *
 * The fan-out (channels, per-tick flush) is in fan-out.ts, runs in runs.ts, limits in limits.ts.
 * Longer than most files because `subscribe`, the replay/gap/backlog handover, reads best whole.
 */

import {
  AlreadySubscribedError,
  ChannelClosedError,
  HubClosedError,
  SseRefusal,
  StoreUnavailableError,
} from '../errors.js';
import { MemoryStore } from '../store/memory-store.js';
import type { RunRecord } from '../store/runs.js';
import type { ChannelGap, EventStore, ReplayResult } from '../store/store.js';
import type { CloseListener, CloseReason, SseStream } from '../stream/sse-stream.js';
import { encodeEvent, encodeEventBody, jsonSerializer } from '../wire/encode.js';
import { assertChannel, channelNames, isRunChannel } from './channel-names.js';
import { FanOut } from './fan-out.js';
import { LimitRefusal, Limits } from './limits.js';
import { joinPieces } from './pieces.js';
import {
  type FollowOptions,
  type RunHandle,
  type RunOptions,
  type RunSource,
  Runs,
} from './runs.js';
import { Subscription } from './subscription.js';
import {
  DIAGNOSTICS,
  HubCounters,
  type PublishMessage,
  type RefusalReason,
  type RefuseMessage,
  resolveMeter,
  type StreamCloseMessage,
  type StreamOpenMessage,
  Telemetry,
} from './telemetry.js';
import type {
  ChannelOf,
  CloseOptions,
  EventMap,
  GapMessage,
  GapNotice,
  HubHealth,
  HubOptions,
  HubStats,
  PublishOptions,
  SubscribeOptions,
} from './types.js';

/**
 * The event map an adapter's `Register` interface declares (`{ events }` or `{ hub }`), else
 * untyped. Lets an app type `res.sse` / `reply.sse` once, through declaration merging.
 */
export type EventsOf<R> = R extends { events: infer E extends EventMap }
  ? E
  : R extends { hub: Hub<infer E> }
    ? E
    : EventMap;

export class Hub<Events extends EventMap = EventMap> {
  readonly store: EventStore;
  private readonly options: HubOptions;
  private readonly streams = new Set<SseStream>();
  private closing = false;
  private draining = false;
  private readonly limits: Limits;
  /** `close()`'s final event, for streams that reach the hub after it closed. */
  private finalFrame: Buffer | undefined;
  /**
   * Streams sent away by a limit or a drain: answered 200 with `retry:` and ended at once, they
   * are not streams the hub holds, nor counted as opened.
   */
  private readonly sentAway = new WeakSet<SseStream>();
  /** Plain counters, for `stats()` and, read at collection time, the metrics. */
  private readonly counters = new HubCounters();
  /** Metrics, when a meter from an OpenTelemetry SDK is in use; else nothing at all. */
  private readonly telemetry: Telemetry | undefined;

  /** Resumable runs (AI token streams) produced or followed through this hub. */
  private readonly runs: Runs;
  private readonly fanOut: FanOut;

  constructor(options: HubOptions = {}) {
    // Checked here, not on the first gap signal of a live stream.
    if (options.gap?.event !== undefined) encodeEvent({ event: options.gap.event });
    this.options = options;
    this.store = options.store ?? new MemoryStore(options.replay);
    this.limits = new Limits(options.limits);
    const meter = resolveMeter(options.metrics);
    if (meter) {
      this.telemetry = new Telemetry(
        meter,
        {
          counters: this.counters,
          openStreams: () => this.streams.size,
          storeStats: () => this.store.stats(),
        },
        options.metrics ? options.metrics.attributes : undefined,
      );
    }
    this.fanOut = new FanOut({
      store: this.store,
      counters: this.counters,
      telemetry: this.telemetry,
    });
    this.runs = new Runs({
      store: this.store,
      publishRaw: (channel, data, event) => this.append(channel, data, event),
      subscribe: (stream, channel, options) =>
        this.subscribe(stream, channel as ChannelOf<Events>, options),
    });
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
    if (typeof channel === 'string' && isRunChannel(channel))
      // Its producer gives its events their ids (a store may reserve them): nobody else writes.
      return Promise.reject(
        new TypeError(`ssekit: "${channel}" is a run's channel; only its run publishes to it`),
      );
    return this.append(channel, data, event);
  }

  /** Publishes to any channel, a run's included (the runs' own path). */
  private append(channel: string, data: unknown, event: string | undefined): Promise<string> {
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
        return Promise.resolve(
          this.published(channel, store.appendNow(channel, body, event), event),
        );
      } catch (error) {
        return Promise.reject(this.appendFailed(error));
      }
    }
    return store.append(channel, body, event).then(
      (id) => this.published(channel, id, event),
      (error: unknown) => {
        throw this.appendFailed(error);
      },
    );
  }

  private published(channel: string, id: string, event: string | undefined): string {
    this.counters.eventsPublished++;
    if (DIAGNOSTICS.publish.hasSubscribers)
      DIAGNOSTICS.publish.publish({ channel, id, event } satisfies PublishMessage);
    return id;
  }

  private appendFailed(error: unknown): unknown {
    // A closed channel is the caller's mistake, not the store's.
    if (!(error instanceof ChannelClosedError))
      this.counters.storeError('append', error instanceof StoreUnavailableError);
    return error;
  }

  /** Counts a refused subscription and tells the `ssekit:refuse` diagnostics channel. */
  private refused(reason: RefusalReason, channels: readonly string[], options: SubscribeOptions) {
    this.counters.refusals[reason]++;
    if (DIAGNOSTICS.refuse.hasSubscribers)
      DIAGNOSTICS.refuse.publish({
        reason,
        channels,
        request: options.request,
      } satisfies RefuseMessage);
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
    if (!stream.claim(this)) throw new AlreadySubscribedError();
    const authorize = options.authorize ?? this.options.authorize;
    let expiresAt = Number.POSITIVE_INFINITY;
    if (authorize) {
      // Every subscribe, so every resume, before any replayed byte.
      for (const name of names) {
        const verdict = await authorize(options.request, name);
        if (!verdict) {
          this.refused('forbidden', names, options);
          throw new SseRefusal(403, name);
        }
        if (verdict !== true) expiresAt = Math.min(expiresAt, +verdict.expiresAt);
      }
    }
    for (const name of names) {
      if (await this.store.isClosed(name)) {
        this.refused('closed', names, options);
        throw new SseRefusal(204, name);
      }
    }
    if (stream.closed) return;
    if (this.closing) {
      stream.shutdown(this.finalFrame);
      return;
    }
    if (stream.isHead) {
      // The statuses a GET would get, then the headers of an event stream: no subscription held.
      stream.start();
      return;
    }
    let limitKey: string | undefined;
    try {
      if (this.draining) throw this.limits.refusal('draining');
      limitKey = this.limits.admit(
        options.request,
        this.streams.size,
        (name) => this.fanOut.subscribersOf(name),
        names,
      );
    } catch (error) {
      if (error instanceof LimitRefusal) {
        this.refused(error.reason, names, options);
        this.sentAway.add(stream);
      }
      throw error;
    }
    const end = options.endOn ? { on: new Set(options.endOn), frame: options.endFrame } : undefined;
    const sub = new Subscription(this, stream, names, options.filter, end);
    sub.limitKey = limitKey;
    // The subscription hears the close for the hub too: one listener per stream, not two.
    if (!this.trackWith(stream, sub)) stream.onClose(sub);
    let result: ReplayResult;
    const lastEventId = options.lastEventId ?? stream.lastEventId;
    try {
      // Live first (queued in the backlog), then the snapshot: nothing published meanwhile is lost.
      await Promise.all(names.map((name) => this.fanOut.join(name, sub)));
      result = await this.store.readAfter(names, lastEventId);
    } catch (error) {
      // A failed join leaves nothing behind: the next subscribe starts clean.
      this.remove(sub);
      this.counters.storeError('subscribe', error instanceof StoreUnavailableError);
      throw error;
    }
    if (stream.closed) return;
    stream.start();
    if (stream.closed) return;
    if (expiresAt !== Number.POSITIVE_INFINITY) stream.endAt(expiresAt);
    let replay = result.events;
    if (lastEventId !== undefined && result.gap) {
      const policy = options.gapReplay ?? this.options.gap?.replay ?? 'available';
      if (policy === 'none') replay = [];
      if (!(await this.signalGap(stream, names, lastEventId, result, policy, replay.length)))
        return;
    } else if (lastEventId !== undefined) {
      this.counters.replaysServed++;
    }
    const { frames: wanted, ends } = sub.cut(replay.filter((e) => !sub.filter || sub.wants(e)));
    // Paced by the client's reads: a long replay never sits in memory beyond one piece.
    const counters = this.counters;
    for (const piece of joinPieces(wanted)) {
      stream.write(piece);
      counters.bytesWritten += piece.length;
      await stream.drained();
      if (stream.closed) return;
    }
    counters.framesWritten += wanted.length;
    counters.eventsReplayed += wanted.length;
    if (ends) {
      stream.close();
      return;
    }
    if (lastEventId === undefined && result.headId !== null) {
      // A client without an id gets the snapshot as its position (a bare `id:`, no event). If its
      // connection ends before its first event (a dropped socket, or streams ended because the
      // history was lost), it resumes from there: what was published meanwhile is replayed, or a
      // lost history is signalled. Without it, it would start afresh and miss both, silently.
      const position = encodeEvent({ id: result.headId });
      if (stream.write(position)) counters.bytesWritten += position.length;
    }
    sub.skipUpTo = replay.length > 0 ? replay[replay.length - 1]!.seq : result.headSeq;
    // A store may deliver a channel it just started reading after newer events of others.
    const held = sub.backlog?.events ?? [];
    const backlog = held.filter((e) => sub.wants(e)).sort((a, b) => a.seq - b.seq);
    sub.backlog = undefined;
    if (backlog.length > 0) this.fanOut.writeEvents(sub, backlog);
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
    const counters = this.counters;
    counters.gapsSignalled++;
    counters.gaps[gap.reason] = (counters.gaps[gap.reason] ?? 0) + 1;
    if (DIAGNOSTICS.gap.hasSubscribers)
      DIAGNOSTICS.gap.publish({ stream, notice } satisfies GapMessage);
    const frame = encodeEvent({
      event: this.options.gap?.event ?? 'ssekit-gap',
      data: JSON.stringify(notice),
      // With nothing to replay, move the client to the snapshot so its next reconnect is exact.
      // An empty history resets it (`id:` empty), so the browser stops sending the stale id.
      ...(replayed === 0 ? { id: result.headId ?? '' } : {}),
    });
    if (stream.write(frame)) counters.bytesWritten += frame.length;
    try {
      await this.options.onGap?.(notice, stream);
    } catch (error) {
      stream.fail(error);
      return false;
    }
    return !stream.closed;
  }

  /**
   * Starts a resumable run: `source` (an async iterable or Readable, or a function of the run's
   * AbortSignal that returns one) is consumed under a key, independently of any connection; each
   * value becomes an event on the run's channel. Followers attach with `followRun`. Rejects with
   * `RunExistsError` when the key is running or still retained.
   */
  startRun<T>(source: RunSource<T>, options?: RunOptions<T>): Promise<RunHandle> {
    if (this.closing) return Promise.reject(new HubClosedError());
    return this.runs.start(source, options);
  }

  /**
   * Attaches a stream to a run: replays from its Last-Event-ID (or from the start), follows live,
   * and ends after one terminal event (`done`, `error`, `stopped`; or `data: [DONE]`). Refuses an
   * unknown key with 404 and an expired run with 204, before any header.
   */
  followRun(stream: SseStream, key: string, options?: FollowOptions): Promise<void> {
    return this.runs.follow(stream, key, options);
  }

  /** Stops a run wherever it runs (through the store). False when no such run is running. */
  stopRun(key: string): Promise<boolean> {
    return this.runs.stop(key);
  }

  /** A run's state, or null when the key is unknown (or forgotten). */
  runStatus(key: string): Promise<RunRecord | null> {
    return this.runs.status(key);
  }

  /** Closes a channel for good: its clients' streams end, and their next connect gets 204. */
  async closeChannel(channel: ChannelOf<Events>, options: CloseOptions = {}): Promise<void> {
    this.fanOut.flush();
    // Encoded once; the store hands it to every process's `closed` notice (this one's included).
    const final = options.final ? encodeEvent(options.final, this.options.serializer) : undefined;
    await this.store.closeChannel(channel, final);
    // For a store that doesn't notify: a no-op once the notice has ended the streams.
    this.fanOut.endChannel(channel, final);
  }

  /**
   * Lets a closed channel be published to and subscribed to again. Closed channels are remembered
   * until then (so a per-user channel that is closed for good costs its name).
   */
  reopenChannel(channel: ChannelOf<Events>): Promise<void> {
    return this.store.reopenChannel(channel);
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
    this.runs.close();
    this.fanOut.flush();
    for (const stream of [...this.streams]) stream.shutdown(this.finalFrame);
    this.telemetry?.stop();
    await this.store.close();
  }

  /** Lets `close()` end this stream too, even if it never subscribes (e.g. a piped AI stream). */
  track(stream: SseStream): void {
    this.trackWith(stream, this);
  }

  /**
   * Tracks `stream`, with `listener` told of its close (it must call `streamClosed`). True when
   * it was added now, false when it was tracked already (or not tracked: closing, sent away).
   */
  private trackWith(stream: SseStream, listener: CloseListener): boolean {
    if (this.closing) {
      // A stream that was still subscribing when the hub closed gets the final event too.
      stream.shutdown(this.finalFrame);
      return false;
    }
    if (this.streams.has(stream) || this.sentAway.has(stream)) return false;
    this.streams.add(stream);
    this.counters.streamsOpened++;
    if (DIAGNOSTICS.streamOpen.hasSubscribers)
      DIAGNOSTICS.streamOpen.publish({ stream } satisfies StreamOpenMessage);
    stream.onClose(listener);
    return true;
  }

  /** @internal A tracked stream closed. */
  streamClosed(stream: SseStream, reason: CloseReason): void {
    if (!this.streams.delete(stream)) return;
    this.counters.closed[reason]++;
    if (DIAGNOSTICS.streamClose.hasSubscribers)
      DIAGNOSTICS.streamClose.publish({ stream, reason } satisfies StreamCloseMessage);
  }

  /** @internal A subscribed stream closed: untrack it (if not already) and drop its subscription. */
  subscriptionClosed(sub: Subscription, reason: CloseReason): void {
    this.streamClosed(sub.stream, reason);
    this.remove(sub);
  }

  private remove(sub: Subscription): void {
    if (sub.limitKey !== undefined) {
      this.limits.release(sub.limitKey);
      sub.limitKey = undefined;
    }
    this.fanOut.leave(sub);
  }

  /**
   * Graceful drain, for deploys: new subscriptions are sent away politely (200, `retry:`, end),
   * and the open streams end spread evenly over `withinMs`, each with a `retry:` hint, so clients
   * reconnect to other instances and resume exactly without a thundering herd. Resolves when none
   * is left.
   */
  async drain(options: { withinMs?: number } = {}): Promise<void> {
    const withinMs = options.withinMs ?? 10_000;
    this.draining = true;
    const streams = [...this.streams];
    const now = Date.now();
    streams.forEach((stream, i) => {
      stream.endAt(now + Math.round(((i + 1) * withinMs) / streams.length));
    });
    await Promise.all(streams.map((stream) => stream.whenClosed()));
  }

  /** For readiness probes: whether this process should get new clients. */
  health(): HubHealth {
    const store = this.store.stats();
    const storeStatus = typeof store.status === 'string' ? store.status : 'ready';
    const status = this.closing
      ? 'closed'
      : this.draining
        ? 'draining'
        : storeStatus === 'ready'
          ? 'ok'
          : 'degraded';
    return {
      status,
      ready: status === 'ok',
      draining: this.draining,
      streams: this.streams.size,
      runs: this.runs.running,
      store,
    };
  }

  stats(): HubStats {
    const store = this.store.stats();
    const counters = this.counters;
    return {
      clients: this.streams.size,
      channels: store.channels,
      bufferedEvents: store.bufferedEvents,
      bufferedBytes: store.bufferedBytes,
      runs: this.runs.running,
      eventsPublished: counters.eventsPublished,
      framesWritten: counters.framesWritten,
      replaysServed: counters.replaysServed,
      gapsSignalled: counters.gapsSignalled,
      droppedForOverflow: counters.closed.overflow,
      refusedByLimit: this.limits.refused,
      store,
    };
  }
}

/** Creates a hub. Pass an event map to type channels and payloads: `createHub<{ prices: Price }>()`. */
export function createHub<Events extends EventMap = EventMap>(
  options: HubOptions = {},
): Hub<Events> {
  return new Hub<Events>(options);
}
