/**
 * The object both adapters expose as `res.sse` / `reply.sse`: one client's stream with errors
 * routed the framework's way. Before the stream starts an error is refused (the framework answers
 * with its status); after, the stream closes and the error is reported. Nothing here rejects, so
 * an unawaited call can never become an unhandled rejection.
 *
 * A little over 250 lines: one method per member both adapters expose, each short.
 */
import type { Readable } from 'node:stream';
import { SseRefusal, StoreUnavailableError } from '../errors.js';
import type { Hub } from '../hub/hub.js';
import { LimitRefusal } from '../hub/limits.js';
import {
  type FollowOptions,
  RUN_START_EVENT,
  type RunHandle,
  type RunOptions,
  type RunSource,
} from '../hub/runs.js';
import type { ChannelOf, EventMap, SubscribeOptions } from '../hub/types.js';
import { limitedLog } from '../stream/log-limit.js';
import type { CloseReason, PipeOptions, SseStream } from '../stream/sse-stream.js';
import type { SseEventInit } from '../wire/encode.js';
import type { RequestLike } from '../wire/last-event-id.js';

/**
 * What an adapter does for the session; the session decides which, so both adapters route every
 * error the same way.
 */
export interface SessionRouting {
  /** Before any header: answer with an empty response of this status (a closed channel's 204, a limit's 429). */
  answer(status: number, headers?: Record<string, string>): void;
  /** Before any header: the framework's error handler answers (a 403 or 400 refusal, a bad field). */
  raise(error: unknown): void;
  /** After the stream started (it is already closed): the app's `onError`, else the framework's log. */
  report(error: unknown): void;
  /** The hub `subscribe()` uses, if any. */
  readonly hub?: Hub<EventMap> | undefined;
  /** The request, for authorization. */
  readonly request?: RequestLike | undefined;
  /** One line for the operator (rate-limited by core's log limiter). Default: `console.warn`. */
  warn?(message: string): void;
}

/**
 * One "store unavailable" line per interval (core's log limiter), with the count of clients
 * sent away meanwhile, not one stack per client.
 */
function logUnavailable(error: StoreUnavailableError, routing: SessionRouting): void {
  limitedLog(
    'store-unavailable',
    `[ssekit] store unavailable; subscribers are told to retry later: ${error.message}`,
    (line) => (routing.warn ? routing.warn(line) : console.warn(line)),
  );
}

function requireHub(hub: Hub<EventMap> | undefined): Hub<EventMap> {
  if (!hub)
    throw new TypeError('ssekit: this needs a hub: sse({ hub }) or app.register(sse, { hub })');
  return hub;
}

/** A retry delay spread over [0.5, 1.5) x `base`, so clients sent away together don't return together. */
export function jitteredRetry(base: number): number {
  return Math.max(0, Math.round(base * (0.5 + Math.random())));
}

const STREAM = Symbol('ssekit.stream');
const ROUTING = Symbol('ssekit.routing');
const REFUSED = Symbol('ssekit.refused');

/**
 * Methods live on the prototype, so an idle connection pays for three fields, not a closure per
 * member. After a refusal the session is inert: nothing is written over the framework's answer.
 */
export class SseSession<Events extends EventMap = EventMap> {
  private [STREAM]: SseStream;
  private [ROUTING]: SessionRouting;
  private [REFUSED]: boolean;

  constructor(stream: SseStream, routing: SessionRouting) {
    this[STREAM] = stream;
    this[ROUTING] = routing;
    this[REFUSED] = false;
  }

  /** The core stream underneath, for pre-encoded frames and other advanced uses. */
  get stream(): SseStream {
    return this[STREAM];
  }
  /** The client's Last-Event-ID (header, else `lastEventId` query), if valid. */
  get lastEventId(): string | undefined {
    return this[STREAM].lastEventId;
  }
  /** Aborts when the stream closes. Hand it to producers. */
  get signal(): AbortSignal {
    return this[STREAM].signal;
  }
  /** True once the SSE headers were sent. */
  get started(): boolean {
    return this[STREAM].started;
  }
  get closed(): boolean {
    return this[STREAM].closed;
  }

  /** Sends one event. Returns false when nothing was written (closed, refused, or dropped). */
  send(data: unknown, fields?: Omit<SseEventInit, 'data'>): boolean {
    return !this[REFUSED] && this[STREAM].send(data, fields);
  }

  /** Sends a `:` comment. */
  comment(text: string): boolean {
    return !this[REFUSED] && this[STREAM].comment(text);
  }

  /**
   * Subscribes to hub channels, replaying from the request's Last-Event-ID. Resolves true once
   * live, false when refused (403/204 answered by the framework) or the client left. Never rejects.
   */
  async subscribe(
    channels: ChannelOf<Events> | readonly ChannelOf<Events>[],
    options?: SubscribeOptions,
  ): Promise<boolean> {
    return this.attach((hub, stream, request) =>
      hub.subscribe(stream, channels, { lastEventId: stream.lastEventId, ...request, ...options }),
    );
  }

  /**
   * Follows a resumable run (`hub.startRun`): replays from the request's Last-Event-ID (or from
   * the start), follows live, and ends after the terminal event. Resolves true once live, false
   * when refused (404 unknown key, 204 ended) or the client left. Never rejects.
   */
  async followRun(key: string, options?: FollowOptions): Promise<boolean> {
    return this.attach((hub, stream, request) =>
      hub.followRun(stream, key, { ...request, ...options }),
    );
  }

  /**
   * Attaches the stream through the hub (`subscribe`, `followRun`): resolves true once live,
   * false when refused or the client left; errors go the framework's way. Never rejects.
   */
  private async attach(
    join: (
      hub: Hub<EventMap>,
      stream: SseStream,
      request: { request?: RequestLike },
    ) => Promise<void>,
  ): Promise<boolean> {
    if (this[REFUSED]) return false;
    const stream = this[STREAM];
    const { hub, request } = this[ROUTING];
    try {
      await join(requireHub(hub), stream, request ? { request } : {});
    } catch (error) {
      this.fail(error);
      return false;
    }
    return stream.started && !stream.closed;
  }

  /**
   * Starts a resumable run from `source` and follows it on this response (the "POST answers
   * with the stream" shape): the run's key goes out as the `SSE-Run-Key` header and as a first
   * `ssekit-run` event (`{ "key": ... }`, without an id), so a client that loses the connection
   * resumes with `GET .../:key` and its Last-Event-ID. Resolves the run's handle, or undefined
   * when it could not start (the error went the framework's way). Never rejects.
   */
  async startRun<T>(
    source: RunSource<T>,
    options?: RunOptions<T> & FollowOptions,
  ): Promise<RunHandle | undefined> {
    if (this[REFUSED]) return undefined;
    const stream = this[STREAM];
    let run: RunHandle;
    try {
      run = await requireHub(this[ROUTING].hub).startRun(source, options);
      stream.setHeader('SSE-Run-Key', run.key);
    } catch (error) {
      this.fail(error);
      return undefined;
    }
    stream.send(JSON.stringify({ key: run.key }), { event: RUN_START_EVENT });
    await this.followRun(run.key, {
      ...(options?.terminator ? { terminator: options.terminator } : {}),
    });
    return run;
  }

  /**
   * Streams an async iterable or a Readable, each value one event; resolves when it ends or the
   * client leaves (then iterators get `return()`, Readables are destroyed). Never rejects.
   */
  async pipe<T>(source: AsyncIterable<T> | Readable, options?: PipeOptions<T>): Promise<void> {
    if (this[REFUSED]) return;
    try {
      await this[STREAM].pipe(source, options);
    } catch (error) {
      // Only a source that isn't iterable gets here: core's pipe reports its own failures.
      this.fail(error);
    }
  }

  /** Ends the response, optionally after a final event. Idempotent. */
  close(final?: SseEventInit): void {
    if (!this[REFUSED]) this[STREAM].close(final);
  }

  /** Commits the SSE headers now (otherwise the first write does). */
  start(): void {
    if (!this[REFUSED]) this[STREAM].start();
  }

  /** Runs once when the stream closes, with the reason. */
  onClose(listener: (reason: CloseReason) => void): void {
    this[STREAM].onClose(listener);
  }

  private fail(error: unknown): void {
    const stream = this[STREAM];
    if (error instanceof StoreUnavailableError) {
      // Not the client's fault and not final: a 200 with a `retry:` hint and an immediate end
      // keeps EventSource reconnecting (any other status would stop it for good), and the
      // operator gets one line per interval, not one stack per client.
      const retry = jitteredRetry(stream.unavailableRetry);
      if (!stream.closed) stream.close({ retry });
      logUnavailable(error, this[ROUTING]);
      return;
    }
    if (error instanceof LimitRefusal && !stream.started) {
      // A limit or a drain: come back later, and not all at once.
      const retry = jitteredRetry(stream.unavailableRetry);
      if (error.answer === 'retry') stream.close({ retry });
      else {
        this[REFUSED] = true;
        stream.discard();
        this[ROUTING].answer(error.answer, { 'Retry-After': String(Math.ceil(retry / 1000)) });
      }
      return;
    }
    if (stream.started) {
      if (!stream.closed) stream.close(undefined, 'error');
      this[ROUTING].report(error);
    } else {
      this[REFUSED] = true;
      // The framework answers; a subscribe still in flight must not start the stream over it.
      stream.discard();
      // A closed channel, an ended run, an unknown run: a plain answer, not an error to log.
      if (error instanceof SseRefusal && (error.status === 204 || error.status === 404))
        this[ROUTING].answer(error.status);
      else this[ROUTING].raise(error);
    }
  }
}

/**
 * Makes `target` (e.g. Fastify's callable `reply.sse`) a session: it takes the session's
 * prototype and fields, so it answers to every member without a closure per member.
 */
export function defineSession<Events extends EventMap, T extends object>(
  target: T,
  stream: SseStream,
  routing: SessionRouting,
): T & SseSession<Events> {
  Object.setPrototypeOf(target, SseSession.prototype);
  const session = target as unknown as SseSession<Events>;
  Object.assign(session, new SseSession<Events>(stream, routing));
  return target as T & SseSession<Events>;
}
