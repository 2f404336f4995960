/**
 * An EventStore on Redis Streams: one stream per channel, ids from one hub-wide counter, one
 * reader per process. Several hubs (processes) with the same prefix share channels and history.
 */
import { randomBytes } from 'node:crypto';
import {
  ChannelClosedError,
  type ChannelGap,
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
} from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import {
  type ConnectionState,
  connectionState,
  durability,
  firstConnect,
  isReplyError,
  isTimeout,
  onceReady,
  openConnection,
  RedisUnavailableError,
} from './connection.js';
import { type RawEntry, readFields, seqOf, toStoredEvent } from './entries.js';
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_PREFIX,
  DEFAULT_READ_COUNT,
  defaultRetryDelay,
  type RedisStoreOptions,
  StoreKeys,
} from './options.js';
import { type ReaderHost, StreamReader, type Verdict } from './reader.js';
import { type LuaScript, scripts } from './scripts.js';

export interface RedisStoreStats extends StoreStats {
  kind: 'redis';
  /**
   * The command connection: publishes, replays and subscribes go through it. `degraded`: it is
   * connected but commands time out (a hung Redis).
   */
  status: ConnectionState;
  /** The reader connection ('idle' until a channel has local subscribers). */
  readerStatus: string;
  /** The last error seen; null again once a command succeeds. */
  lastError: string | null;
  /** Id of the last event the reader delivered. */
  readerPosition: string | null;
  epoch: string | null;
  /** Times this process saw the history lost or rewound (each ends the local streams). */
  historyChanges: number;
  /** Times the epoch changed with the history carried over whole (a restart with AOF): no stream ended. */
  epochsCarriedOver: number;
}

/** How an epoch in a reply relates to the one this process knows. */
type Observed = 'same' | 'carried' | 'changed' | 'outdated';

const WAKE_TTL_MS = 60_000;
/** How long a closed channel's stream stays, so lagging readers still deliver its last events. */
const CLOSED_HISTORY_TTL_MS = 60_000;

export class RedisStore implements EventStore, ReaderHost {
  readonly keys: StoreKeys;
  private readonly commands: Redis;
  private readonly reader: StreamReader;
  private readonly limits: [maxEvents: number, maxBytes: number, maxAgeMs: number];
  private currentEpoch: string | undefined;
  /** Epochs this process moved on from, newest last: a late reply carrying one changes nothing. */
  private readonly retired: string[] = [];
  private seen = 0;
  private closing = false;
  private everReady = false;
  private lastError: string | null = null;
  private timedOut = false;
  private historyChanges = 0;
  private epochsCarriedOver = 0;
  private readonly commandTimeout: number;
  private readonly durable: boolean | undefined;

  constructor(options: RedisStoreOptions = {}) {
    this.commandTimeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.durable = options.durable;
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
    return [...keys.history, keys.closed, keys.stream(channel), keys.meta(channel)];
  }

  /**
   * The first ARGV of every script that vouches for the epoch: a candidate epoch, whether the
   * server is durable ('1', '0', '' unknown) and the epoch this process knows.
   */
  async vouchArgs(conn: Redis): Promise<string[]> {
    return [newEpoch(), await durability(conn, this.durable), this.currentEpoch ?? ''];
  }

  private runScript(
    what: string,
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return this.run(what, async () =>
      script.run(this.commands, keys, [...(await this.vouchArgs(this.commands)), ...args]),
    );
  }

  async append(channel: string, body: string, event: string | undefined): Promise<string> {
    const reply = (await this.runScript('publish', scripts.append, this.channelKeys(channel), [
      this.seen,
      channel,
      body,
      event === undefined ? '0' : '1',
      event ?? '',
      ...this.limits,
    ]).catch((error: unknown) => {
      if (isReplyError(error) && error.message.startsWith('SSEKIT_CLOSED')) {
        throw new ChannelClosedError(channel);
      }
      throw error;
    })) as [string, number, number];
    const [epoch, seq, base] = reply;
    this.observe(epoch, seq - 1, base);
    this.noteSeq(seq);
    return formatEventId(epoch, seq);
  }

  async readAfter(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): Promise<ReplayResult> {
    const fresh = lastEventId === undefined;
    const position = fresh ? undefined : parseEventId(lastEventId);
    const keys = [...this.keys.history];
    if (!fresh)
      for (const channel of channels) keys.push(this.keys.stream(channel), this.keys.meta(channel));
    const reply = (await this.runScript('replay', scripts.readAfter, keys, [
      position?.epoch ?? '',
      position?.seq ?? 0,
      ...this.limits,
      fresh ? '1' : '0',
    ])) as [string, number, number, string, ...unknown[]];
    const [epoch, head, base, replyReason] = reply;
    this.observe(epoch, head, base);
    const snapshot = { headId: head > 0 ? formatEventId(epoch, head) : null, headSeq: head };
    if (fresh) return { events: [], ...snapshot };
    // Whatever applies to the id itself (stale, unknown) applies to every channel.
    const shared = (replyReason || undefined) as GapReason | undefined;
    const after = shared === undefined ? position!.seq : 0;
    const runs: StoredEvent[][] = [];
    const detail: Record<string, ChannelGap> = {};
    let oldest = Number.POSITIVE_INFINITY;
    channels.forEach((channel, i) => {
      const floor = Number(reply[4 + i * 3]);
      const first = reply[5 + i * 3] as string;
      const entries = reply[6 + i * 3] as RawEntry[];
      detail[channel] = {
        reason: shared ?? (floor > after ? 'evicted' : null),
        oldestId: first === '' ? null : formatEventId(epoch, seqOf(first)),
      };
      if (first !== '') oldest = Math.min(oldest, seqOf(first));
      const run: StoredEvent[] = [];
      for (const [id, fields] of entries) {
        const entry = readFields(fields);
        if (!entry.closed) run.push(toStoredEvent(channel, epoch, seqOf(id), entry));
      }
      runs.push(run);
    });
    const events = mergeBySeq(runs);
    const reason =
      shared ?? (Object.values(detail).some((d) => d.reason !== null) ? 'evicted' : undefined);
    if (reason === undefined) return { events, ...snapshot };
    const oldestId = Number.isFinite(oldest) ? formatEventId(epoch, oldest) : null;
    return { events, gap: { reason, oldestId, channels: detail }, ...snapshot };
  }

  async subscribe(channel: string, listener: StoreListener): Promise<() => void> {
    const reply = (await this.runScript(
      'subscribe',
      scripts.position,
      [...this.keys.history, this.keys.closed, this.keys.meta(channel)],
      [channel],
    )) as [string, number, string, number, number];
    const [epoch, head, lastSeq, closed, base] = reply;
    this.observe(epoch, head, base);
    // From here on every entry of the channel is after `lastSeq`, so the reader delivers it.
    const { unsubscribe, caughtUp } = this.reader.add(channel, listener, lastSeq);
    // The reader needs a wake-up and one read (each a command): while Redis hangs, that never
    // comes. Fail like any other command then, and leave nothing behind.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), 2 * this.commandTimeout);
    });
    const timedOut = await Promise.race([caughtUp, late]);
    clearTimeout(timer);
    if (timedOut === true) {
      unsubscribe();
      this.timedOut = true;
      this.noteError(new Error('the reader did not catch up in time'));
      throw this.unavailable('subscribe');
    }
    // Closed between the hub's check and now: its streams must still end.
    if (closed === 1) setImmediate(() => listener.closed());
    return unsubscribe;
  }

  async closeChannel(channel: string, final?: Buffer): Promise<void> {
    const [epoch, seq, base] = (await this.runScript(
      'close the channel',
      scripts.close,
      this.channelKeys(channel),
      [channel, CLOSED_HISTORY_TTL_MS, final ? final.toString() : ''],
    )) as [string, number, number];
    this.observe(epoch, seq - 1, base);
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
    const status = connectionState(this.commands);
    return {
      kind: 'redis',
      channels: this.reader.channelCount,
      // The history lives in Redis; counting it would cost a round trip per channel.
      bufferedEvents: 0,
      bufferedBytes: 0,
      status: this.closing ? 'closed' : status === 'ready' && this.timedOut ? 'degraded' : status,
      readerStatus: this.reader.state,
      lastError: this.lastError,
      readerPosition: this.reader.lastDelivered,
      epoch: this.currentEpoch ?? null,
      historyChanges: this.historyChanges,
      epochsCarriedOver: this.epochsCarriedOver,
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
      // Already gone (or hung: the command timed out).
    } finally {
      this.commands.disconnect();
    }
  }

  // ReaderHost

  async confirm(
    before: string,
    after: string | null,
    head: number,
    base: number,
    seenBefore: number,
  ): Promise<Verdict> {
    // The history changed while the read blocked: the next read (and its vouching) tells how.
    if (before !== after) return 'retry';
    const observed = this.observe(before, head, base);
    if (observed === 'outdated') return 'retry';
    if (observed === 'changed') return 'changed';
    if (observed === 'same' && head < seenBefore) {
      // The counter went back although the same server still vouches for the epoch (the data
      // was edited or restored in place): ids above it were handed out already.
      await this.renounce(before);
      return 'changed';
    }
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

  /**
   * Takes in an epoch from any reply, with the head seq read with it and the base Redis vouches
   * for of the epoch this process knew (-1: none). An epoch carried over whole (the base covers
   * everything this process saw) changes nothing for open streams; any other change ends them.
   */
  private observe(epoch: string, head: number, base: number): Observed {
    const known = this.currentEpoch;
    if (known === epoch || known === undefined) {
      this.currentEpoch = epoch;
      this.noteSeq(head);
      return 'same';
    }
    // A reply that was on its way while another one brought the newer epoch.
    if (this.retired.includes(epoch)) return 'outdated';
    this.retired.push(known);
    if (this.retired.length > 16) this.retired.shift();
    this.currentEpoch = epoch;
    if (base >= 0 && this.seen <= base) {
      this.epochsCarriedOver++;
      this.noteSeq(head);
      return 'carried';
    }
    if (base >= 0) {
      // Redis carried the epoch over, but this process saw ids above its end: they were lost.
      // Nobody may resume from that epoch.
      this.renounce(known).catch((error: unknown) => this.noteError(error));
    }
    this.seen = head;
    this.historyChanges++;
    this.reader.historyChanged(head);
    return 'changed';
  }

  /** Makes every id of `epoch` stale, in Redis, for every process. */
  private async renounce(epoch: string): Promise<void> {
    const [current, head] = (await this.run('renounce an epoch', async () =>
      scripts.renounce.run(this.commands, this.keys.history, [
        newEpoch(),
        await durability(this.commands, this.durable),
        epoch,
      ]),
    )) as [string, number];
    this.observe(current, head, -1);
  }

  /** Runs a command, turning "Redis is away" (or hung) into one clear error. */
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
      const result = await command();
      this.healthy();
      return result;
    } catch (error) {
      if (isReplyError(error)) {
        this.healthy();
        throw error;
      }
      if (isTimeout(error)) {
        this.timedOut = true;
        this.noteError(new Error(`no answer within ${this.commandTimeout} ms`));
      }
      throw this.unavailable(what, error);
    }
  }

  /** A command got its answer: Redis is back to normal. */
  private healthy(): void {
    this.timedOut = false;
    this.lastError = null;
  }

  private unavailable(what: string, cause?: unknown): RedisUnavailableError {
    // Keep the connection's own error (e.g. ECONNREFUSED) as lastError; the cause says the rest.
    if (cause && this.lastError === null) this.noteError(cause);
    const detail = this.lastError ? ` (last error: ${this.lastError})` : '';
    const status = this.stats().status;
    return new RedisUnavailableError(
      `ssekit/redis: Redis is unavailable, status ${status}${detail}; cannot ${what}`,
      { cause },
    );
  }
}

/** A Redis Streams store for `createHub({ store: redisStore({ url }) })`. */
export function redisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}
