/**
 * Resumable runs: a source (AI tokens) consumed under a key, independently of any connection.
 * Each chunk is published on the run's own channel, so ids, encoding once, coalescing, bounded
 * queues, replay, the gap signal and the stores all apply unchanged. Run state (owner, lease,
 * stop request, how it ended) lives in the store, so any process can follow, stop or expire a run.
 *
 * Longer than most files: starting, consuming, following and the shared lease timer all work on
 * the same per-run state, which stays private to this one class.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { SsekitError, SseRefusal } from '../errors.js';
import type { RunRecord, RunStatus, RunStore } from '../store/runs.js';
import type { EventStore } from '../store/store.js';
import { untilAborted } from '../stream/source.js';
import type { SseStream } from '../stream/sse-stream.js';
import { encodeEvent, encodeEventBody } from '../wire/encode.js';
import { parseEventId } from '../wire/event-id.js';
import { runChannel } from './channel-names.js';
import type { SubscribeOptions } from './types.js';

/** A source, or a function that makes one from the run's AbortSignal. */
export type RunSource<T> =
  | AsyncIterable<T>
  | Readable
  | ((signal: AbortSignal) => AsyncIterable<T> | Readable);

export interface RunOptions<T = unknown> {
  /** The run's key; default a random UUID. */
  key?: string;
  /** Turns a source value into an event's data (and type). Default: the value is the data. */
  map?: (value: T) => { data: unknown; event?: string };
  /** Stop a run nobody has followed for this long, in ms. Default 30,000. */
  graceMs?: number;
  /** Finish the run even when every follower left. Default false. */
  keepAlive?: boolean;
  /** Stop the run after this long, in ms. Default 600,000. */
  maxDurationMs?: number;
  /** Keep an ended run's history this long, in ms (then 204, then forgotten). Default 300,000. */
  retentionMs?: number;
  /** The producer's lease in the store, in ms: a run whose process died is `interrupted` after it. Default 5,000. */
  leaseMs?: number;
}

export interface FollowOptions {
  /** `'events'` (default): the terminal `done` / `error` / `stopped` event; `'openai'`: `data: [DONE]`. */
  terminator?: 'events' | 'openai';
  /** Request for the hub's authorize hook. */
  request?: SubscribeOptions['request'];
  /** Overrides the stream's Last-Event-ID. */
  lastEventId?: string | undefined;
}

export interface RunHandle {
  readonly key: string;
  /** Aborts when the run stops, for whatever reason. */
  readonly signal: AbortSignal;
  /** Resolves with how the run ended. */
  readonly ended: Promise<RunStatus>;
}

/** The run's terminal events; `interrupted` is an `error`. */
export const RUN_TERMINAL_EVENTS = ['done', 'error', 'stopped'] as const;
/** The start marker's event type (followers never see it). */
export const RUN_START_EVENT = 'ssekit-run';
const OPENAI_DONE = encodeEvent({ data: '[DONE]' });
/** Publishes of one run waiting for the store at most; past it the source waits (memory stays bounded). */
const MAX_IN_FLIGHT = 256;

export class RunExistsError extends SsekitError {
  constructor(key: string) {
    super('SSEKIT_RUN_EXISTS', `ssekit: a run with key "${key}" is running or still retained`);
  }
}

/** What the runs need of the hub. */
export interface RunHost {
  readonly store: EventStore;
  publishRaw(channel: string, data: unknown, event: string | undefined): Promise<string>;
  subscribe(stream: SseStream, channels: string, options: SubscribeOptions): Promise<void>;
}

interface LocalRun {
  key: string;
  /** The start marker's id: where a follower with no Last-Event-ID starts. */
  startId: string;
  controller: AbortController;
  options: Required<Omit<RunOptions, 'key' | 'map'>>;
  lastLocalFollower: number;
  resolve: (status: RunStatus) => void;
  /** Settles once `consume` returned (source stopped, in-flight publishes settled). */
  finished: Promise<void>;
  /**
   * When the lease ends at the latest, on this process's monotonic clock (`performance.now()`):
   * measured from when the claim or renewal was sent, so never later than the store's own end.
   */
  leaseUntil: number;
}

const DEFAULTS = {
  graceMs: 30_000,
  keepAlive: false,
  maxDurationMs: 600_000,
  retentionMs: 300_000,
  leaseMs: 5_000,
};

export class Runs {
  /** This process, as a run owner. */
  private readonly owner = randomBytes(8).toString('hex');
  private readonly local = new Map<string, LocalRun>();
  /** Followers attached on this process, per key. */
  private readonly followers = new Map<string, number>();
  private ticker: NodeJS.Timeout | undefined;
  private tickMs = Number.POSITIVE_INFINITY;
  private ticking = false;

  constructor(private readonly host: RunHost) {}

  get running(): number {
    return this.local.size;
  }

  private get store(): RunStore {
    const runs = this.host.store.runs;
    if (!runs) throw new TypeError('ssekit: this store does not keep run state (no `runs`)');
    return runs;
  }

  async start<T>(source: RunSource<T>, options: RunOptions<T> = {}): Promise<RunHandle> {
    const key = options.key ?? randomUUID();
    if (typeof key !== 'string' || key === '')
      throw new TypeError('ssekit: a run key must be a non-empty string');
    const settings = { ...DEFAULTS, ...stripUndefined(options) };
    await this.retireLost(key);
    const claimSent = performance.now();
    const claimed = await this.store.claim({
      key,
      channel: runChannel(key),
      owner: this.owner,
      leaseMs: settings.leaseMs,
      retentionMs: settings.retentionMs,
      startBody: encodeEventBody({ event: RUN_START_EVENT, data: JSON.stringify({ key }) }),
      startEvent: RUN_START_EVENT,
    });
    if (!claimed) throw new RunExistsError(key);
    const controller = new AbortController();
    let resolve!: (status: RunStatus) => void;
    const ended = new Promise<RunStatus>((r) => {
      resolve = r;
    });
    const run: LocalRun = {
      key,
      startId: claimed.startId,
      controller,
      options: {
        graceMs: settings.graceMs,
        keepAlive: settings.keepAlive,
        maxDurationMs: settings.maxDurationMs,
        retentionMs: settings.retentionMs,
        leaseMs: settings.leaseMs,
      },
      lastLocalFollower: Date.now(),
      resolve,
      finished: Promise.resolve(),
      leaseUntil: claimSent + settings.leaseMs,
    };
    this.local.set(key, run);
    this.schedule(settings.leaseMs);
    // The source starts once this task's microtasks are drained (nextTick): a follower attached
    // right after start (the POST shape) is then live before the first chunk and needs no replay
    // of it (one store round trip less), and the first chunk doesn't wait a loop turn (a turn is
    // several ms on a busy process).
    run.finished = new Promise<void>((resolve) => process.nextTick(resolve)).then(() =>
      this.consume(run, source, options.map),
    );
    return { key, signal: controller.signal, ended };
  }

  /**
   * A source of `key` still runs here, though the store says the run is no longer its own (its
   * lease lapsed and another process ended it): stop it before the key is claimed again, so it
   * can't write into the new run. A run still ours is left alone (the claim then fails).
   */
  private async retireLost(key: string): Promise<void> {
    const previous = this.local.get(key);
    if (!previous) return;
    const record = await this.store.get(key);
    if (record?.status === 'running' && record.owner === this.owner) return;
    this.local.delete(key);
    this.abort(previous, 'lost');
    await previous.finished;
  }

  /** Stops a run wherever it runs. False when no such run is running. */
  async stop(key: string): Promise<boolean> {
    const run = this.local.get(key);
    if (run) {
      this.abort(run, 'stopped');
      return true;
    }
    return this.store.requestStop(key);
  }

  status(key: string): Promise<RunRecord | null> {
    return this.store.get(key);
  }

  /**
   * Attaches a stream to a run: replay from its Last-Event-ID (or from the start), then live, then
   * one terminal event and the end. An unknown key is a 404 refusal; an expired run, or a client
   * that already has the terminal event, a 204 (the browser stops reconnecting).
   */
  async follow(stream: SseStream, key: string, options: FollowOptions = {}): Promise<void> {
    // A run produced here is running: no need to ask the store (one round trip less to the first token).
    const local = this.local.get(key);
    const record: Pick<RunRecord, 'status' | 'startId' | 'endId' | 'leaseMs'> | null = local
      ? { status: 'running', startId: local.startId, endId: null, leaseMs: local.options.leaseMs }
      : await this.store.get(key);
    if (!record) throw new SseRefusal(404, key, `ssekit: no run with key "${key}"`);
    const lastEventId = options.lastEventId ?? stream.lastEventId;
    if (record.status === 'expired' || isAtOrAfter(lastEventId, record.endId))
      throw new SseRefusal(204, key, `ssekit: run "${key}" has ended`);
    if (stream.isHead) {
      stream.start();
      return;
    }
    this.attach(key, stream, record.leaseMs);
    await this.host.subscribe(stream, runChannel(key), {
      lastEventId: lastEventId ?? record.startId,
      ...(options.request ? { request: options.request } : {}),
      filter: (event) => event.event !== RUN_START_EVENT,
      endOn: RUN_TERMINAL_EVENTS,
      ...(options.terminator === 'openai' ? { endFrame: OPENAI_DONE } : {}),
    });
  }

  /** The hub closes: local sources are stopped without a terminal event (other processes see the lease lapse). */
  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const run of this.local.values()) run.controller.abort('closed');
    this.local.clear();
  }

  private attach(key: string, stream: SseStream, leaseMs: number): void {
    this.followers.set(key, (this.followers.get(key) ?? 0) + 1);
    this.schedule(leaseMs);
    // Produced elsewhere: say so now, not at the next tick (a third of the lease away), or the
    // owner may find it abandoned meanwhile.
    if (!this.local.has(key)) this.store.touch(key).catch(() => {});
    stream.onClose(() => {
      const left = (this.followers.get(key) ?? 1) - 1;
      if (left > 0) this.followers.set(key, left);
      else this.followers.delete(key);
      const run = this.local.get(key);
      if (run) run.lastLocalFollower = Date.now();
    });
  }

  private async consume<T>(
    run: LocalRun,
    source: RunSource<T>,
    map: ((value: T) => { data: unknown; event?: string }) | undefined,
  ): Promise<void> {
    const { signal } = run.controller;
    const maxDuration = setTimeout(() => this.abort(run, 'stopped'), run.options.maxDurationMs);
    maxDuration.unref();
    let status: RunStatus = 'done';
    let message: string | undefined;
    let publishFailed = false;
    const channel = runChannel(run.key);
    try {
      const made = typeof source === 'function' ? source(signal) : source;
      // Publishes are not awaited one by one: a store round trip (Redis) must not pace the
      // source. They stay in order (the store appends in call order); at most MAX_IN_FLIGHT wait.
      const inFlight = new Set<Promise<string>>();
      for await (const value of untilAborted(made, signal)) {
        // Past its lease (the process was paused: a long GC, SIGSTOP), another process may have
        // ended the run and started its key again: write nothing before the lease is renewed.
        if (performance.now() >= run.leaseUntil) {
          await this.renew(run).catch(() => {});
          if (signal.aborted) break;
        }
        const { data, event } = map ? map(value) : { data: toData(value) };
        const publishing = this.host.publishRaw(channel, data, event);
        inFlight.add(publishing);
        publishing.then(
          () => inFlight.delete(publishing),
          () => {
            inFlight.delete(publishing);
            publishFailed = true;
            // A chunk the store refused fails the run now, not when the source ends.
            if (!signal.aborted) run.controller.abort('error');
          },
        );
        if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      }
      // Every chunk is stored before the terminal event; a failed one fails the run.
      await Promise.all(inFlight);
    } catch {
      // The source threw (not because it was stopped), or a publish failed.
      if (!signal.aborted) run.controller.abort('error');
    } finally {
      clearTimeout(maxDuration);
    }
    if (signal.reason === 'error') {
      status = 'error';
      // Safe to show: never a stack.
      message = 'the run failed';
    } else if (signal.aborted) status = 'stopped';
    if (publishFailed && this.local.get(run.key) === run && !(await this.stillOwns(run))) {
      // Refused because the run is no longer this process's (its lease lapsed and another
      // process ended it, or started its key again): write no end into it.
      if (this.local.get(run.key) === run) this.local.delete(run.key);
      this.store.release?.(run.key);
      run.resolve('interrupted');
      return;
    }
    if (this.local.get(run.key) !== run || signal.reason === 'closed' || signal.reason === 'lost') {
      // (Unless this process started the key again since: that run is its producer now.)
      if (!this.local.has(run.key)) this.store.release?.(run.key);
      if (signal.reason === 'lost') await this.endLost(run.key);
      run.resolve(signal.reason === 'lost' ? 'interrupted' : status);
      return;
    }
    this.local.delete(run.key);
    // If the end can't be recorded (the store is away), the lease lapses and a follower's
    // process ends the run as interrupted; either way this process no longer produces it.
    await this.finish(run.key, this.owner, status, message, run.options.retentionMs).catch(
      () => {},
    );
    this.store.release?.(run.key);
    run.resolve(status);
  }

  /** Whether the store still has `run` as this process's running run (a renewal says so). */
  private stillOwns(run: LocalRun): Promise<boolean> {
    return this.store.renew(run.key, this.owner, run.options.leaseMs).then(
      (record) => record !== null,
      () => false,
    );
  }

  /**
   * The run stopped being this process's. Normally another process ended it `interrupted`; but if
   * the store lost the run altogether (Redis restarted without its data, FLUSHALL), nobody else
   * can, and followers admitted here meanwhile would wait for ever: end it for them.
   */
  private async endLost(key: string): Promise<void> {
    const record = await this.store.get(key).catch(() => undefined);
    if (record !== null) return;
    await this.host
      .publishRaw(
        runChannel(key),
        JSON.stringify({ reason: 'interrupted', message: "the run's state was lost" }),
        'error',
      )
      .catch(() => {});
  }

  /** Publishes the terminal event and records the end. */
  private async finish(
    key: string,
    owner: string | null,
    status: RunStatus,
    message: string | undefined,
    retentionMs: number,
  ): Promise<void> {
    const event = status === 'done' ? 'done' : status === 'stopped' ? 'stopped' : 'error';
    const endId = await this.host.publishRaw(
      runChannel(key),
      JSON.stringify({ reason: status, ...(message ? { message } : {}) }),
      event,
    );
    await this.store.end(key, owner, status, endId, retentionMs);
  }

  private abort(run: LocalRun, why: 'stopped' | 'lost'): void {
    if (!run.controller.signal.aborted) run.controller.abort(why);
  }

  /** One shared, unref'd timer renews leases, notices stop requests, abandonment and lost producers. */
  private schedule(leaseMs: number): void {
    const every = Math.max(10, Math.floor(leaseMs / 3));
    if (this.ticker && every >= this.tickMs) return;
    if (this.ticker) clearInterval(this.ticker);
    this.tickMs = every;
    this.ticker = setInterval(() => void this.tick().catch(() => {}), every);
    this.ticker.unref();
  }

  private async tick(): Promise<void> {
    // A slow store must not stack ticks up: the next one waits for this one.
    if (this.ticking) return;
    this.ticking = true;
    try {
      // All runs at once: one round trip's time for hundreds of leases, not one per run, so a
      // busy process renews well within its lease.
      await Promise.all([
        this.renewLocal(),
        ...[...this.followers.keys()]
          .filter((key) => !this.local.has(key))
          .map((key) => this.watchRemote(key)),
      ]);
    } finally {
      this.ticking = false;
    }
    if (this.local.size === 0 && this.followers.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
      this.tickMs = Number.POSITIVE_INFINITY;
    }
  }

  /** Renews every local run: in one call when the store can, else one call each. */
  private async renewLocal(): Promise<void> {
    const runs = [...this.local.values()];
    const store = this.store;
    if (runs.length === 0) return;
    if (!store.renewAll) {
      await Promise.all(runs.map((run) => this.renew(run)));
      return;
    }
    const sent = performance.now();
    const records = await store.renewAll(
      this.owner,
      runs.map((run) => ({ key: run.key, leaseMs: run.options.leaseMs })),
    );
    for (const [i, run] of runs.entries()) this.renewed(run, sent, records[i] ?? null);
  }

  /** The owner's side: renew the lease, and notice a stop request or abandonment. */
  private async renew(run: LocalRun): Promise<void> {
    const sent = performance.now();
    this.renewed(run, sent, await this.store.renew(run.key, this.owner, run.options.leaseMs));
  }

  private renewed(run: LocalRun, sent: number, record: RunRecord | null): void {
    // (Started again meanwhile: the new run is renewed on its own.)
    if (this.local.get(run.key) !== run) return;
    if (record) run.leaseUntil = Math.max(run.leaseUntil, sent + run.options.leaseMs);
    if (!record) {
      // Another process declared it interrupted: stop quietly, the terminal event is written.
      this.local.delete(run.key);
      this.abort(run, 'lost');
      return;
    }
    if (record.stopRequested) {
      this.abort(run, 'stopped');
      return;
    }
    const seen = Math.max(record.seenAt, run.lastLocalFollower);
    const followed = (this.followers.get(run.key) ?? 0) > 0;
    if (!run.options.keepAlive && !followed && Date.now() - seen > run.options.graceMs)
      this.abort(run, 'stopped');
  }

  /** A follower's side of a run produced elsewhere: say it is followed; notice a dead producer. */
  private async watchRemote(key: string): Promise<void> {
    const runs = this.store;
    await runs.touch(key);
    // One process wins the compare-and-set and writes the terminal event for everyone.
    if (await runs.interrupt(key)) {
      const retentionMs = (await runs.get(key))?.retentionMs ?? DEFAULTS.retentionMs;
      await this.finish(key, null, 'interrupted', "the run's process stopped", retentionMs).catch(
        () => {},
      );
    }
  }
}

function toData(value: unknown): unknown {
  return Buffer.isBuffer(value) ? value.toString() : value;
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

/** Whether `id` is the run's terminal id or after it (same history). */
function isAtOrAfter(id: string | undefined, endId: string | null): boolean {
  if (id === undefined || endId === null) return false;
  const a = parseEventId(id);
  const b = parseEventId(endId);
  return !!a && !!b && a.epoch === b.epoch && a.seq >= b.seq;
}
