/**
 * An EventStore on Redis Streams: one stream per channel, ids from one hub-wide counter, one
 * reader per process. Several hubs (processes) with the same prefix share channels and history.
 */
import { randomBytes } from 'node:crypto';
import {
  DEFAULT_MAX_EVENTS,
  type EventStore,
  formatEventId,
  type GapReason,
  mergeBySeq,
  newEpoch,
  parseEventId,
  type ReplayResult,
  type StoredEvent,
  type StoreListener,
  type StoreStats,
} from '@ssekit/core';
import type { Redis } from 'ioredis';
import {
  type ConnectionState,
  connectionState,
  firstConnect,
  isReplyError,
  onceReady,
  openConnection,
  RedisUnavailableError,
} from './connection.js';
import { type RawEntry, readFields, seqOf, toStoredEvent } from './entries.js';
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_PREFIX,
  DEFAULT_READ_COUNT,
  defaultRetryDelay,
  type RedisStoreOptions,
  StoreKeys,
} from './options.js';
import { type ReaderHost, StreamReader, type Verdict } from './reader.js';
import { scripts } from './scripts.js';

export interface RedisStoreStats extends StoreStats {
  kind: 'redis';
  /** The command connection: publishes, replays and subscribes go through it. */
  status: ConnectionState;
  /** The reader connection ('idle' until a channel has local subscribers). */
  readerStatus: string;
  lastError: string | null;
  /** Id of the last event the reader delivered. */
  readerPosition: string | null;
  epoch: string | null;
  /** Times this process saw the history lost or rewound (each ends the local streams). */
  historyChanges: number;
}

const WAKE_TTL_MS = 60_000;
/** How long a closed channel's stream stays, so lagging readers still deliver its last events. */
const CLOSED_HISTORY_TTL_MS = 60_000;

export class RedisStore implements EventStore, ReaderHost {
  readonly keys: StoreKeys;
  private readonly commands: Redis;
  private readonly reader: StreamReader;
  private readonly limits: [maxEvents: number, maxBytes: number, maxAgeMs: number];
  private currentEpoch: string | undefined;
  private seen = 0;
  private closing = false;
  private everReady = false;
  private lastError: string | null = null;
  private historyChanges = 0;

  constructor(options: RedisStoreOptions = {}) {
    this.keys = new StoreKeys(options.prefix ?? DEFAULT_PREFIX);
    this.limits = [
      options.maxEvents ?? DEFAULT_MAX_EVENTS,
      options.maxBytes ?? 0,
      options.maxAgeMs ?? 0,
    ];
    this.commands = openConnection(options, 'commands', false);
    this.commands.on('ready', () => {
      this.everReady = true;
    });
    const readerConn = openConnection(options, 'reader', true);
    for (const conn of [this.commands, readerConn])
      conn.on('error', (error: Error) => this.noteError(error));
    this.reader = new StreamReader(readerConn, this, randomBytes(8).toString('hex'), {
      blockMs: options.blockMs ?? DEFAULT_BLOCK_MS,
      readCount: options.readCount ?? DEFAULT_READ_COUNT,
      retryDelay: options.retryDelay ?? defaultRetryDelay,
    });
  }

  /** Resolves once the command connection is ready, e.g. after Redis came back (or on close). */
  ready(): Promise<void> {
    return onceReady(this.commands, new AbortController().signal);
  }

  get epoch(): string | undefined {
    return this.currentEpoch;
  }
  get highestSeq(): number {
    return this.seen;
  }

  /** The keys the append and close scripts touch, in their KEYS order. */
  private channelKeys(channel: string): string[] {
    const { keys } = this;
    return [keys.epoch, keys.seq, keys.closed, keys.stream(channel), keys.meta(channel)];
  }

  async append(channel: string, body: string, event: string | undefined): Promise<string> {
    const known = this.currentEpoch ?? '';
    const seen = this.seen;
    const reply = (await this.run('publish', () =>
      scripts.append.run(this.commands, this.channelKeys(channel), [
        newEpoch(),
        channel,
        body,
        event === undefined ? '0' : '1',
        event ?? '',
        ...this.limits,
        known,
        seen,
      ]),
    ).catch((error: unknown) => {
      if (isReplyError(error) && error.message.startsWith('SSEKIT_CLOSED')) {
        throw new Error(`ssekit: channel "${channel}" is closed`);
      }
      throw error;
    })) as [string, number];
    const [epoch, seq] = reply;
    this.observe(epoch, seq - 1);
    this.noteSeq(seq);
    return formatEventId(epoch, seq);
  }

  async readAfter(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): Promise<ReplayResult> {
    const fresh = lastEventId === undefined;
    const position = fresh ? undefined : parseEventId(lastEventId);
    const keys = [this.keys.epoch, this.keys.seq];
    if (!fresh)
      for (const channel of channels) keys.push(this.keys.stream(channel), this.keys.meta(channel));
    const reply = (await this.run('replay', () =>
      scripts.readAfter.run(this.commands, keys, [
        newEpoch(),
        position?.epoch ?? '',
        position?.seq ?? 0,
        ...this.limits,
        fresh ? '1' : '0',
      ]),
    )) as [string, number, string, ...unknown[]];
    const [epoch, head, replyReason] = reply;
    this.observe(epoch, head);
    const snapshot = { headId: head > 0 ? formatEventId(epoch, head) : null, headSeq: head };
    if (fresh) return { events: [], ...snapshot };
    let reason = (replyReason || undefined) as GapReason | undefined;
    const after = reason === undefined ? position!.seq : 0;
    const runs: StoredEvent[][] = [];
    let oldest = Number.POSITIVE_INFINITY;
    channels.forEach((channel, i) => {
      const floor = Number(reply[3 + i * 3]);
      const first = reply[4 + i * 3] as string;
      const entries = reply[5 + i * 3] as RawEntry[];
      if (reason === undefined && floor > after) reason = 'evicted';
      if (first !== '') oldest = Math.min(oldest, seqOf(first));
      const run: StoredEvent[] = [];
      for (const [id, fields] of entries) {
        const entry = readFields(fields);
        if (!entry.closed) run.push(toStoredEvent(channel, epoch, seqOf(id), entry));
      }
      runs.push(run);
    });
    const events = mergeBySeq(runs);
    if (reason === undefined) return { events, ...snapshot };
    const oldestId = Number.isFinite(oldest) ? formatEventId(epoch, oldest) : null;
    return { events, gap: { reason, oldestId }, ...snapshot };
  }

  async subscribe(channel: string, listener: StoreListener): Promise<() => void> {
    const reply = (await this.run('subscribe', () =>
      scripts.position.run(
        this.commands,
        [this.keys.epoch, this.keys.seq, this.keys.closed, this.keys.meta(channel)],
        [newEpoch(), channel],
      ),
    )) as [string, number, string, number];
    const [epoch, head, lastSeq, closed] = reply;
    this.observe(epoch, head);
    // From here on every entry of the channel is after `lastSeq`, so the reader delivers it.
    const { unsubscribe, caughtUp } = this.reader.add(channel, listener, lastSeq);
    // Closed between the hub's check and now: its streams must still end.
    if (closed === 1) setImmediate(() => listener.closed());
    await caughtUp;
    return unsubscribe;
  }

  async closeChannel(channel: string, final?: Buffer): Promise<void> {
    const [epoch, seq] = (await this.run('close the channel', () =>
      scripts.close.run(this.commands, this.channelKeys(channel), [
        newEpoch(),
        channel,
        CLOSED_HISTORY_TTL_MS,
        final ? final.toString() : '',
      ]),
    )) as [string, number];
    this.observe(epoch, seq - 1);
    this.noteSeq(seq);
  }

  async reopenChannel(channel: string): Promise<void> {
    // Also lift the expiry closing put on the stream, or history published after the reopen
    // would vanish with it (publishes re-apply maxAgeMs when it is set).
    await this.run('reopen the channel', () =>
      this.commands
        .multi()
        .srem(this.keys.closed, channel)
        .persist(this.keys.stream(channel))
        .exec(),
    );
  }

  async isClosed(channel: string): Promise<boolean> {
    const member = await this.run('check the channel', () =>
      this.commands.sismember(this.keys.closed, channel),
    );
    return member === 1;
  }

  stats(): RedisStoreStats {
    return {
      kind: 'redis',
      channels: this.reader.channelCount,
      // The history lives in Redis; counting it would cost a round trip per channel.
      bufferedEvents: 0,
      bufferedBytes: 0,
      status: this.closing ? 'closed' : connectionState(this.commands),
      readerStatus: this.reader.state,
      lastError: this.lastError,
      readerPosition: this.reader.lastDelivered,
      epoch: this.currentEpoch ?? null,
      historyChanges: this.historyChanges,
    };
  }

  /** Quits both connections, so the process can exit. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.reader.stop();
    try {
      if (this.commands.status === 'ready') {
        await this.commands.del(this.reader.wakeKey);
        await this.commands.quit();
      }
    } catch {
      // Already gone.
    } finally {
      this.commands.disconnect();
    }
  }

  // ReaderHost

  async confirm(
    before: string | null,
    after: string | null,
    counter: number,
    seenBefore: number,
  ): Promise<Verdict> {
    if (before === null && after === null) {
      // Redis holds no epoch: its data is gone (or nothing was ever written).
      if (this.currentEpoch === undefined) return 'none';
      this.lost();
      return 'changed';
    }
    if (before === null || after === null || before !== after) {
      // Lost or replaced while we blocked. The counter may come from another history, so
      // reading restarts from the beginning of the new one.
      if (after === null) this.lost();
      else this.observe(after, 0);
      return 'changed';
    }
    if (this.currentEpoch === undefined) this.currentEpoch = before;
    if (before !== this.currentEpoch) {
      this.observe(before, counter);
      return 'changed';
    }
    if (counter < seenBefore) {
      // The counter went back: Redis restarted from an older snapshot. Ids above it were handed
      // out already; a new epoch makes them stale instead of letting them be issued again.
      const renewed = (await scripts.renewEpoch.run(
        this.commands,
        [this.keys.epoch],
        [before, newEpoch()],
      )) as string;
      this.observe(renewed, counter);
      return 'changed';
    }
    this.noteSeq(counter);
    return 'deliver';
  }

  async wake(key: string): Promise<void> {
    if (this.commands.status !== 'ready') return;
    await this.commands
      .pipeline()
      .xadd(key, 'MAXLEN', '1', '*', 'w', '1')
      .pexpire(key, WAKE_TTL_MS)
      .exec();
  }

  noteError(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  noteSeq(seq: number): void {
    if (seq > this.seen) this.seen = seq;
  }

  /** Takes in an epoch (and the head seq read with it) from any reply. */
  private observe(epoch: string, head: number): void {
    if (this.currentEpoch === undefined) {
      this.currentEpoch = epoch;
    } else if (epoch !== this.currentEpoch) {
      this.currentEpoch = epoch;
      this.seen = 0;
      this.historyChanges++;
      this.reader.historyChanged(head);
    }
    this.noteSeq(head);
  }

  /** Redis holds no epoch any more: its data is gone. */
  private lost(): void {
    if (this.currentEpoch === undefined) return;
    this.currentEpoch = undefined;
    this.seen = 0;
    this.historyChanges++;
    this.reader.historyChanged(0);
  }

  /** Runs a command, turning "Redis is away" into one clear error. */
  private firstReady: Promise<void> | undefined;

  private async run<T>(what: string, command: () => Promise<T>): Promise<T> {
    if (this.closing)
      throw new RedisUnavailableError(`ssekit/redis: the store is closed; cannot ${what}`);
    if (this.commands.status !== 'ready') {
      if (this.everReady || this.commands.status === 'end') throw this.unavailable(what);
      // Still making the first connection: wait for it rather than fail a startup race.
      // One shared wait, however many commands race the startup (no listener per command).
      this.firstReady ??= firstConnect(this.commands);
      await this.firstReady.catch((error: unknown) => {
        throw this.unavailable(what, error);
      });
    }
    try {
      return await command();
    } catch (error) {
      if (isReplyError(error)) throw error;
      throw this.unavailable(what, error);
    }
  }

  private unavailable(what: string, cause?: unknown): RedisUnavailableError {
    // Keep the connection's own error (e.g. ECONNREFUSED) as lastError; the cause says the rest.
    if (cause && this.lastError === null) this.noteError(cause);
    const detail = this.lastError ? ` (last error: ${this.lastError})` : '';
    return new RedisUnavailableError(
      `ssekit/redis: Redis is unavailable, status ${connectionState(this.commands)}${detail}; cannot ${what}`,
      { cause },
    );
  }
}

/** A Redis Streams store for `createHub({ store: redisStore({ url }) })`. */
export function redisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}
