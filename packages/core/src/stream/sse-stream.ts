/**
 * One client's event stream: lazy headers, bounded queue, heartbeat, write timeout, and one
 * `close` with a reason. Adapters hand it Node's response; everything SSE happens here.
 *
 * Longer than most files: the write path, the queue, drain, the ticker and closing all change the
 * same few fields, which stay private to one class so an idle connection costs one object.
 */
import type { Readable } from 'node:stream';
import {
  encodeComment,
  encodeEvent,
  jsonSerializer,
  type Serializer,
  type SseEventInit,
} from '../wire/encode.js';
import { lastEventIdFrom, type RequestLike } from '../wire/last-event-id.js';
import { sseHeaders } from './headers.js';
import { errorKey, limitedLog } from './log-limit.js';
import { type PipeOptions, pipeSource } from './pipe.js';
import { joinTicker, leaveTicker, type Tickable } from './ticker.js';
import type { SseTarget, TransportOwner } from './transport.js';
import * as transport from './transport.js';

/** Why a stream closed: the client left, the server closed it, it overflowed or timed out, or its source failed. */
export type CloseReason = 'client' | 'server' | 'overflow' | 'timeout' | 'error';

export interface SseStreamOptions {
  /** Idle time before a `:` comment is sent, in ms. Default 15,000; `false` disables it. */
  heartbeat?: number | false;
  /** Bytes a client may have queued while it does not read. Default 1 MiB. */
  maxQueueBytes?: number;
  /**
   * What to do when the queue would overflow. `'close'` (default) drops the connection: the
   * client reconnects and resumes from the replay buffer, so nothing is lost. `'drop'` discards
   * the frame instead, which loses it: only for data where the next value supersedes the last.
   */
  overflow?: 'close' | 'drop';
  /** Close a client that has not drained for this long, in ms. Default 30,000; `false` disables it. */
  writeTimeout?: number | false;
  /** A `retry:` field sent first, in ms. */
  retry?: number;
  /**
   * Rotation: end the stream after about this many ms (minus up to 10% jitter, so streams opened
   * together don't end together) with a `retry:` hint; the client reconnects (perhaps to another
   * instance) and resumes exactly. Also bounds how long one authorization lasts. Default: none.
   */
  maxAge?: number;
  /** The `retry:` base, in ms, when a stream is ended to be resumed at once (rotation, drain, expiry). Default 1,000 (jittered). */
  rejoinRetry?: number;
  /**
   * When the store is unavailable (Redis down), a subscribe is answered 200 with `retry:` about
   * this many ms (jittered by +-50%) and ended at once, so browsers come back later. Default 5,000.
   */
  unavailableRetry?: number;
  /** Serializer for non-string data. Default JSON. */
  serializer?: Serializer;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /**
   * Errors after the stream started (a failing source, a throwing hook). Default: a
   * `console.error` line, at most one per kind of error per 10 s (an outage fails every client).
   */
  onError?: (error: unknown) => void;
}

export interface SseStreamContext {
  /** The request, for Last-Event-ID and authorization. */
  request?: RequestLike;
  /**
   * Told when the stream starts, so it can end it on shutdown (the hub: `hub.close()` ends every
   * started stream, subscribed or not). The stream knows nothing else of it.
   */
  hub?: StreamTracker;
  /** Called once, just before headers are committed (Fastify hijacks the reply here). */
  onStart?: () => void;
  /**
   * Called once when the stream closes, after its close listeners. A close listener that costs
   * the stream nothing: the adapter's per-response object is the context already.
   */
  onClose?: (reason: CloseReason) => void;
  /** Errors after the stream started, for this stream; wins over the `onError` option. */
  onError?: (error: unknown) => void;
}

/** Whatever keeps a set of started streams (the hub). */
export interface StreamTracker {
  track(stream: SseStream): void;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024;
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;
export const DEFAULT_UNAVAILABLE_RETRY_MS = 5_000;
export const DEFAULT_REJOIN_RETRY_MS = 1_000;

const HEARTBEAT = encodeComment('');
/** `status` values: not started and not closed; started (bit 0), with a close reason above it. */
const IDLE = 0;
const STARTED = 1;
const CLOSE_REASONS: readonly CloseReason[] = ['client', 'server', 'overflow', 'timeout', 'error'];
const CLOSED = Symbol('closed');

/** Without a handler: one line (rate-limited, see log-limit.ts) on the console. */
function defaultOnError(error: unknown): void {
  limitedLog(`stream:${errorKey(error)}`, '[ssekit] stream error:', (line) =>
    console.error(line, error),
  );
}

export type { PipeOptions };

/** Hears the one `close`: a function, or an object (the hub), which costs no closure per stream. */
export type CloseListener =
  | ((reason: CloseReason) => void)
  | { streamClosed(stream: SseStream, reason: CloseReason): void };

function notify(listener: CloseListener, stream: SseStream, reason: CloseReason): void {
  if (typeof listener === 'function') listener(reason);
  else listener.streamClosed(stream, reason);
}

/**
 * Adds a listener without growing an array: a push would give an empty array 17 slots, on every
 * connection. One listener is kept as is, several in an array of exactly their number.
 */
function withListener(
  current: CloseListener | CloseListener[] | undefined,
  listener: CloseListener,
): CloseListener | CloseListener[] {
  if (current === undefined) return listener;
  if (!Array.isArray(current)) return [current, listener];
  const next = new Array<CloseListener>(current.length + 1);
  for (let i = 0; i < current.length; i++) next[i] = current[i]!;
  next[current.length] = listener;
  return next;
}

/**
 * A stream's rarely used state, in one object made on first need: an idle connection that never
 * falls behind, waits or ends at a set time pays one field for all of it.
 */
class StreamExtras {
  queue: Buffer[] | undefined = undefined;
  queued = 0;
  /** When the peer fell behind (0: it is not). */
  waitingSince = 0;
  drainWaiters: Array<() => void> | undefined = undefined;
  drainHooked = false;
  controller: AbortController | undefined = undefined;
  closedPromise: Promise<typeof CLOSED> | undefined = undefined;
  /** The timer of `endAt` (rotation, drain, expiring authorization) and its time. */
  endTimer: NodeJS.Timeout | undefined = undefined;
  endTime = 0;
  /** Headers added with `setHeader` before the stream started. */
  headers: Record<string, string> | undefined = undefined;
}

function releaseWaiters(extras: StreamExtras): void {
  const waiters = extras.drainWaiters;
  extras.drainWaiters = undefined;
  if (waiters) for (const resolve of waiters) resolve();
}

export class SseStream implements Tickable, TransportOwner {
  private readonly target: SseTarget;
  private readonly options: SseStreamOptions;
  private readonly context: SseStreamContext;
  private readonly period: number | undefined;
  /** Bit 0: the headers were sent; above it, the close reason's index + 1 (0 while open). */
  private status = 0;
  /** Ticks in a row without a write (-1: written since the last tick); the shared tick may be faster than the heartbeat. */
  private idleTicks = 0;
  /** One listener as is, several in an exact-size array (most streams have one or two). */
  private closeListeners: CloseListener | CloseListener[] | undefined;
  /** Who feeds this stream (the hub's subscription or run): one feed per stream. */
  private feeder: unknown;
  /** What most connections never need (a queue, drain, a timed end...), made on first need. */
  private extras: StreamExtras | undefined;
  /** @internal The shared ticker's links (see ticker.ts). */
  tickPrev: Tickable | undefined;
  /** @internal */
  tickNext: Tickable | undefined;
  constructor(target: SseTarget, options: SseStreamOptions = {}, context: SseStreamContext = {}) {
    this.target = target;
    transport.watchPeer(target, this);
    this.options = options;
    this.context = context;
    const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT_MS;
    const timeout = options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT_MS;
    // Half the heartbeat: the shared timer's phase is not the stream's, and ticking twice per
    // interval keeps any silence within one heartbeat interval.
    const halfBeat =
      typeof heartbeat === 'number' && heartbeat > 0 ? Math.max(1, Math.floor(heartbeat / 2)) : 0;
    // An eighth of the write timeout: a stalled peer is reaped at most 12.5% late (plus timer lag).
    const reapEvery =
      typeof timeout === 'number' && timeout > 0 ? Math.max(1, Math.floor(timeout / 8)) : 0;
    const periods = [halfBeat, reapEvery].filter((p) => p > 0);
    this.period = periods.length > 0 ? Math.min(...periods) : undefined;
  }

  /** The client's Last-Event-ID (header, else `lastEventId` query), if valid. */
  get lastEventId(): string | undefined {
    // Read when asked (once or twice per stream) rather than kept in a field on every stream.
    const request = this.context.request;
    return request ? lastEventIdFrom(request) : undefined;
  }

  /** A HEAD request: starting sends the headers and ends the stream at once. */
  get isHead(): boolean {
    return this.context.request?.method === 'HEAD';
  }

  /** True once headers were sent. */
  get started(): boolean {
    return (this.status & STARTED) !== 0;
  }
  get closed(): boolean {
    return this.status > STARTED;
  }
  get closeReason(): CloseReason | undefined {
    return this.status > STARTED ? CLOSE_REASONS[(this.status >> 1) - 1] : undefined;
  }
  /** Bytes waiting for the client to read. */
  get queuedBytes(): number {
    return this.extras?.queued ?? 0;
  }
  /** Aborts when the stream closes, for whatever reason. Hand it to producers. */
  get signal(): AbortSignal {
    const extras = this.more();
    if (!extras.controller) {
      extras.controller = new AbortController();
      if (this.closed) extras.controller.abort(this.closeReason);
    }
    return extras.controller.signal;
  }

  /**
   * Claims the stream for one feed (a subscription, a run). False when it is already claimed: a
   * second feed would write every event twice.
   */
  claim(feeder: object): boolean {
    if (this.feeder !== undefined) return false;
    this.feeder = feeder;
    return true;
  }

  /** Adds a response header; only before the stream started (throws after). */
  setHeader(name: string, value: string): void {
    if (this.status !== IDLE)
      throw new TypeError(`ssekit: setHeader("${name}") after the stream started`);
    const extras = this.more();
    extras.headers ??= {};
    extras.headers[name] = value;
  }

  /** Commits the headers now (otherwise the first write does). */
  start(): void {
    if (this.status !== IDLE) return;
    if (transport.isGone(this.target)) {
      this.finish('client');
      return;
    }
    this.context.onStart?.();
    this.status = STARTED;
    const extra = this.extras?.headers;
    transport.commit(
      this.target,
      sseHeaders(
        transport.isHttp1(this.target),
        extra ? { ...this.options.headers, ...extra } : this.options.headers,
      ),
    );
    // Every started stream, subscribed or not (e.g. a piped AI answer), ends with hub.close().
    this.context.hub?.track(this);
    if (this.closed) return;
    // A HEAD request gets the headers of an event stream and nothing else. This is the one
    // place HEAD is handled: the hub and the adapters' routes rely on it.
    if (this.isHead) {
      this.close();
      return;
    }
    if (this.period !== undefined) joinTicker(this.period, this);
    const maxAge = this.options.maxAge;
    if (maxAge !== undefined)
      this.endAt(Date.now() + Math.round(maxAge * (1 - 0.1 * Math.random())));
    if (this.options.retry !== undefined) this.write(encodeEvent({ retry: this.options.retry }));
  }

  /**
   * Ends the stream politely at `time` (ms since epoch): a jittered `retry:` hint, then the end,
   * so the client reconnects and resumes exactly. The earliest of several calls wins. For
   * rotation, drain and authorization that expires.
   */
  endAt(time: number): void {
    const extras = this.extras;
    if (this.closed || (extras?.endTimer && time >= extras.endTime)) return;
    if (extras?.endTimer) clearTimeout(extras.endTimer);
    const more = this.more();
    more.endTime = time;
    this.armEnd(time);
  }

  private armEnd(time: number): void {
    // A timer can fire a millisecond before `Date.now()` reaches its time (the loop's clock is
    // not the wall clock): then it waits the rest, so an expiring credential is never cut early.
    const timer = setTimeout(
      () => (Date.now() < time ? this.armEnd(time) : this.rejoin()),
      Math.max(0, time - Date.now()),
    );
    timer.unref();
    this.more().endTimer = timer;
  }

  /** Ends the stream with a `retry:` hint for a client that should come back at once. */
  rejoin(): void {
    const base = this.options.rejoinRetry ?? DEFAULT_REJOIN_RETRY_MS;
    this.close({ retry: Math.round(base * (0.5 + Math.random())) });
  }

  /** Sends one event. Returns false when nothing was written (closed, or dropped on overflow). */
  send(data: unknown, fields: Omit<SseEventInit, 'data'> = {}): boolean {
    // Encode first: a bad field throws before anything is written.
    const frame = encodeEvent({ ...fields, data }, this.options.serializer ?? jsonSerializer);
    return this.write(frame);
  }

  /** Sends a `:` comment, e.g. padding or a manual heartbeat. */
  comment(text: string): boolean {
    return this.write(encodeComment(text));
  }

  /** Writes an already-encoded frame (or several joined). The same Buffer may go to many streams. */
  write(frame: Buffer): boolean {
    if (this.closed) return false;
    if (this.status === IDLE) {
      this.start();
      if (this.closed) return false;
    }
    this.idleTicks = -1;
    if (this.behind()) return this.enqueue(frame);
    if (!transport.write(this.target, frame)) this.stall();
    return true;
  }

  /**
   * Streams a source: each value becomes an event. Resolves when the source ends or the
   * client leaves. On leaving, iterators get `return()` and Readables are destroyed.
   * A failing source is reported through `onError` and closes the stream; pipe never rejects.
   */
  pipe<T>(source: AsyncIterable<T> | Readable, options: PipeOptions<T> = {}): Promise<void> {
    return pipeSource(this, source, options);
  }

  /** The serializer for non-string data (the `serializer` option, else JSON). */
  get serializer(): Serializer {
    return this.options.serializer ?? jsonSerializer;
  }

  /** Resolves when the queue is empty again, or the stream closed. */
  drained(): Promise<void> {
    if (this.closed || !this.behind()) return Promise.resolve();
    const extras = this.more();
    return new Promise((resolve) => {
      extras.drainWaiters ??= [];
      extras.drainWaiters.push(resolve);
    });
  }

  /** Resolves when the stream closes. */
  whenClosed(): Promise<typeof CLOSED> {
    const extras = this.more();
    extras.closedPromise ??= this.closed
      ? Promise.resolve(CLOSED)
      : new Promise((resolve) => this.onClose(() => resolve(CLOSED)));
    return extras.closedPromise;
  }

  /** Registers a listener for the one `close`; runs at once if already closed. */
  onClose(listener: CloseListener): void {
    if (this.closed) notify(listener, this, this.closeReason!);
    else {
      this.closeListeners = withListener(this.closeListeners, listener);
    }
  }

  /** Closes the stream and reports the error through `onError`. */
  fail(error: unknown): void {
    // Close first: whoever hears of the error finds the stream already ended.
    this.close(undefined, 'error');
    try {
      this.reportError(error);
    } catch (thrown) {
      defaultOnError(thrown);
    }
  }

  /**
   * Ends the response, optionally after a final event. Idempotent. A stream that never started
   * sends its headers first, so the client sees a normal, empty event stream.
   */
  close(final?: SseEventInit | Buffer, reason: CloseReason = 'server'): void {
    this.end(final, reason, false);
  }

  /**
   * Forgets the stream without writing anything: the framework answered the request itself
   * (a refusal), so a subscribe still in flight must not start it.
   */
  discard(): void {
    if (this.status === IDLE) this.finish('server');
  }

  /**
   * Like `close()`, and also closes the HTTP/1 connection once the last chunk is out, so that
   * `server.close()` need not wait for idle keep-alive sockets. For server shutdown.
   */
  shutdown(final?: SseEventInit | Buffer): void {
    this.end(final, 'server', true);
  }

  private end(
    final: SseEventInit | Buffer | undefined,
    reason: CloseReason,
    closeConnection: boolean,
  ): void {
    if (this.closed) return;
    // Encode first: a bad final event throws before anything changes. A Buffer is a ready frame.
    const frame =
      final === undefined || Buffer.isBuffer(final)
        ? final
        : encodeEvent(final, this.options.serializer ?? jsonSerializer);
    if (this.status === IDLE) this.start();
    if (this.closed) return;
    // A slow reader still gets its queue and the final event: bounded by maxQueueBytes plus one frame.
    const pending = [...(this.extras?.queue ?? []), ...(frame ? [frame] : [])];
    let stalled = (this.extras?.waitingSince ?? 0) !== 0;
    this.finish(reason);
    for (const chunk of pending) if (!transport.write(this.target, chunk)) stalled = true;
    transport.end(this.target, closeConnection);
    if (stalled) this.reapIfStalled();
  }

  /** Shared-timer tick: heartbeat on idle streams, reap peers that stopped draining. */
  tick(now: number): void {
    if (this.closed) return;
    const timeout = this.options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT_MS;
    const waitingSince = this.extras?.waitingSince ?? 0;
    if (waitingSince !== 0 && timeout !== false && now - waitingSince >= timeout) {
      this.abort('timeout');
      return;
    }
    const heartbeat = this.options.heartbeat ?? DEFAULT_HEARTBEAT_MS;
    // A write since the last tick left -1 here: the count starts again at 0.
    this.idleTicks++;
    // idleTicks whole periods passed without a write, so the silence is at least idleTicks and
    // less than idleTicks + 1 periods: send once the next tick could be a whole interval late.
    const period = this.period ?? 0;
    if (heartbeat !== false && waitingSince === 0 && (this.idleTicks + 1) * period >= heartbeat) {
      this.write(HEARTBEAT);
      this.idleTicks = 0;
    }
  }

  /** The peer is behind: queue from now on, and listen for 'drain' (hooked once, on first need). */
  private stall(): void {
    const extras = this.more();
    extras.waitingSince = Date.now();
    if (extras.drainHooked) return;
    extras.drainHooked = true;
    transport.watchDrain(this.target, this);
  }

  private enqueue(frame: Buffer): boolean {
    const extras = this.more();
    if (extras.queued + frame.length > this.queueLimit) {
      if ((this.options.overflow ?? 'close') === 'drop') return false;
      this.abort('overflow');
      return false;
    }
    extras.queue ??= [];
    extras.queue.push(frame);
    extras.queued += frame.length;
    return true;
  }

  private flushQueue(): void {
    const extras = this.extras;
    if (this.closed || !extras) return;
    extras.waitingSince = 0;
    const queue = extras.queue;
    if (queue && queue.length > 0) {
      // Each queued frame as it is: they are Buffers shared with every other client, and joining
      // them would copy the backlog once per client (Node hands the writes to one writev).
      extras.queue = undefined;
      extras.queued = 0;
      let drained = true;
      for (const frame of queue) drained = transport.write(this.target, frame);
      if (!drained) {
        this.stall();
        return;
      }
    }
    releaseWaiters(extras);
  }

  /** After close, drops a peer that still has not read what is left within the write timeout. */
  private reapIfStalled(): void {
    const timeout = this.options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT_MS;
    if (timeout === false) return;
    const timer = setTimeout(() => transport.destroy(this.target), timeout);
    timer.unref();
    // 'close' fires once everything was flushed, before a keep-alive socket can be reused.
    transport.onTarget(this.target, 'close', () => clearTimeout(timer));
  }

  /** @internal The transport's peer left (or the response finished). */
  peerClosed(): void {
    this.finish('client');
  }

  /** @internal The transport drained: write what queued up meanwhile. */
  peerDrained(): void {
    this.flushQueue();
  }

  /** Base of the `retry:` hint sent when the store is unavailable, in ms. */
  get unavailableRetry(): number {
    return this.options.unavailableRetry ?? DEFAULT_UNAVAILABLE_RETRY_MS;
  }

  /** The queue bound in bytes (`maxQueueBytes`). */
  get queueLimit(): number {
    return this.options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
  }

  /** Applies the overflow policy for data held elsewhere on this client's behalf (a replay backlog). */
  overflowed(): void {
    if (!this.closed) this.abort('overflow');
  }

  private reportError(error: unknown): void {
    // Called as methods, so a context object can implement them.
    if (this.context.onError) this.context.onError(error);
    else if (this.options.onError) this.options.onError(error);
    else defaultOnError(error);
  }

  /** Drops the connection without flushing: for peers that stopped reading. */
  private abort(reason: CloseReason): void {
    this.finish(reason);
    transport.destroy(this.target);
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    const wasOpen = this.status === STARTED;
    // A reason outside the type (from untyped code) still closes the stream, as 'server'.
    const code = CLOSE_REASONS.indexOf(reason) + 1 || CLOSE_REASONS.indexOf('server') + 1;
    this.status = (this.status & STARTED) | (code << 1);
    if (wasOpen && this.period !== undefined) leaveTicker(this.period, this);
    const extras = this.extras;
    if (extras) {
      extras.queue = undefined;
      extras.queued = 0;
      if (extras.endTimer) clearTimeout(extras.endTimer);
      extras.controller?.abort(reason);
    }
    const listeners = this.closeListeners;
    this.closeListeners = undefined;
    if (Array.isArray(listeners)) for (const listener of listeners) this.tell(listener, reason);
    else if (listeners) this.tell(listeners, reason);
    // Called as a method, so a context object can implement it.
    const context = this.context;
    if (context.onClose) this.tell((why) => context.onClose?.(why), reason);
    if (extras) releaseWaiters(extras);
  }

  private tell(listener: CloseListener, reason: CloseReason): void {
    try {
      notify(listener, this, reason);
    } catch (error) {
      this.reportError(error);
    }
  }

  /** True while the peer is behind (frames queue up). */
  private behind(): boolean {
    const extras = this.extras;
    return extras !== undefined && (extras.queued > 0 || extras.waitingSince !== 0);
  }

  private more(): StreamExtras {
    this.extras ??= new StreamExtras();
    return this.extras;
  }
}
