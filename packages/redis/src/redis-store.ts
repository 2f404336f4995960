/**
 * An EventStore on Redis Streams: one stream per channel, ids from one hub-wide counter, one
 * reader per process. Several hubs (processes) with the same prefix share channels and history.
 * This file holds the store's methods; the epoch lives in epochs.ts, the command runner in
 * command-runner.ts, the reader in reader.ts and the Lua in scripts/. A little over 250 lines:
 * it is the one place that wires those parts to each other (the batcher's, the reader's and the
 * run store's hosts), besides the store's own short methods.
 */
import { randomBytes } from 'node:crypto';
import { RUN_TERMINAL_EVENTS } from '@ssekit/core';
import {
  DEFAULT_MAX_EVENTS,
  type EventStore,
  parseEventId,
  type ReplayResult,
  type RunStore,
  type StoreListener,
  type StoreSubscribeOptions,
} from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import { AppendBatcher } from './append-batch.js';
import { CommandRunner } from './command-runner.js';
import { onceReady, openConnection } from './connection.js';
import { EpochTracker } from './epochs.js';
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_PREFIX,
  DEFAULT_READ_COUNT,
  defaultRetryDelay,
  type RedisStoreOptions,
  StoreKeys,
} from './options.js';
import { type ReaderHost, StreamReader } from './reader.js';
import { type ReadAfterReply, replayResult, runOnly } from './replay.js';
import { RedisRunStore } from './runs/run-store.js';
import { type LuaScript, scripts } from './scripts/index.js';
import { type RedisStoreStats, redisStoreStats } from './stats.js';

export type { RedisStoreStats };

const WAKE_TTL_MS = 60_000;
/** How long a closed channel's stream stays, so lagging readers still deliver its last events. */
const CLOSED_HISTORY_TTL_MS = 60_000;

export class RedisStore implements EventStore {
  readonly keys: StoreKeys;
  private readonly commands: Redis;
  private readonly runner: CommandRunner;
  private readonly epochs: EpochTracker;
  private readonly reader: StreamReader;
  private readonly batcher: AppendBatcher;
  private readonly limits: [maxEvents: number, maxBytes: number, maxAgeMs: number];
  private readonly commandTimeout: number;
  /** Run state for resumable runs (`hub.startRun`), shared by every process on this prefix. */
  readonly runs: RunStore;
  /** The same object, with what only this store uses (reserved ids, who writes alone). */
  private readonly runStore: RedisRunStore;

  constructor(options: RedisStoreOptions = {}) {
    this.commandTimeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.keys = new StoreKeys(options.prefix ?? DEFAULT_PREFIX);
    this.limits = [
      options.maxEvents ?? DEFAULT_MAX_EVENTS,
      options.maxBytes ?? 0,
      options.maxAgeMs ?? 0,
    ];
    this.commands = openConnection(options, 'commands', false);
    this.runner = new CommandRunner(this.commands, this.commandTimeout);
    this.epochs = new EpochTracker(this.runner, this.keys, options.durable, (head) =>
      this.reader.historyChanged(head),
    );
    const readerConn = openConnection(options, 'reader', true);
    for (const conn of [this.commands, readerConn])
      conn.on('error', (error: Error) => this.noteError(error));
    this.reader = new StreamReader(readerConn, this.readerHost(), randomBytes(8).toString('hex'), {
      blockMs: options.blockMs ?? DEFAULT_BLOCK_MS,
      readCount: options.readCount ?? DEFAULT_READ_COUNT,
      retryDelay: options.retryDelay ?? defaultRetryDelay,
    });
    const epochs = this.epochs;
    this.batcher = new AppendBatcher({
      keys: this.keys,
      limits: this.limits,
      runAppend: (keys, args) => this.sendScript('publish', scripts.append, keys, args, true),
      appended: (epoch, head, base, lastSeq) => epochs.observe(epoch, head, base, lastSeq),
      stored: (append, epoch, seq, prev) => {
        this.reader.echo(append, epoch, seq, prev, true);
      },
      refused: (channel, reserved) => {
        if (reserved) {
          this.runStore.unreserve(channel);
          this.reader.forgetLast(channel);
        }
        this.reader.readAgain(channel);
      },
    });
    this.runStore = new RedisRunStore({
      connection: this.commands,
      run: (what, command) => this.runner.run(what, command),
      vouched: (what, script, keys, args) => this.sendScript(what, script, keys, args, true),
      history: this.keys.history,
      closedKey: this.keys.closed,
      limits: this.limits,
      get epoch() {
        return epochs.epoch;
      },
      observed: (epoch, head, base, seq) => epochs.observe(epoch, head, base, seq),
      runKey: (key) => this.keys.run(key),
      channelKeys: (channel) => ({
        stream: this.keys.stream(channel),
        meta: this.keys.meta(channel),
      }),
      released: (channel) => this.reader.readAgain(channel),
    });
    this.runs = this.runStore;
  }

  /** Resolves once the command connection is ready, e.g. after Redis came back (or on close). */
  ready(): Promise<void> {
    return onceReady(this.commands, new AbortController().signal);
  }

  /** The keys the close script touches, in its KEYS order. */
  private channelKeys(channel: string): string[] {
    const { keys } = this;
    return [...keys.history, keys.closed, keys.stream(channel), keys.meta(channel)];
  }

  /** Runs a script after the pending publishes, so Redis runs them in the order they were made. */
  private runScript(
    what: string,
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    this.batcher.flush();
    return this.sendScript(what, script, keys, args);
  }

  /** `withSeen`: the script takes the highest seq seen in the known epoch as its ARGV[4]. */
  private sendScript(
    what: string,
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    withSeen = false,
  ): Promise<unknown> {
    return this.runner.run(what, async () => {
      const { args: vouch, seen } = await this.epochs.vouch(this.commands);
      return script.run(
        this.commands,
        keys,
        withSeen ? [...vouch, seen, ...args] : [...vouch, ...args],
      );
    });
  }

  /**
   * Queued for the next batch (append-batch.ts): one round trip for all of them. An event of a
   * run this process produces takes a reserved seq (runs/run-writer.ts) and reaches this
   * process's followers now, not after the round trip.
   */
  append(channel: string, body: string, event: string | undefined): Promise<string> {
    const taken = this.runStore.reserve(channel);
    if (!taken) return this.batcher.append(channel, body, event);
    const append = { channel, body, event };
    taken.delivered = this.reader.echo(append, taken.epoch, taken.seq, taken.prev, false);
    // A run's end waits for nothing: `ended`, the end record and followers elsewhere wait for it.
    const ends = event !== undefined && (RUN_TERMINAL_EVENTS as readonly string[]).includes(event);
    return this.batcher.append(channel, body, event, taken, ends);
  }

  async readAfter(
    channels: readonly string[],
    lastEventId: string | undefined,
  ): Promise<ReplayResult> {
    const fresh = lastEventId === undefined;
    const position = fresh ? undefined : parseEventId(lastEventId);
    if (
      position &&
      runOnly(channels) &&
      position.epoch === this.epochs.epoch &&
      this.runStore.lastReserved(channels[0]!) === position.seq
    ) {
      // After the last id this process gave a run it produces (and alone writes): nothing.
      return { events: [], headId: lastEventId!, headSeq: position.seq };
    }
    const keys = [...this.keys.history];
    // (Fresh: a run's channel still needs its last entry, see replay.ts.)
    if (!fresh || runOnly(channels))
      for (const channel of channels) keys.push(this.keys.stream(channel), this.keys.meta(channel));
    const reply = (await this.runScript('replay', scripts.readAfter, keys, [
      position?.epoch ?? '',
      position?.seq ?? 0,
      ...this.limits,
      fresh ? '1' : '0',
    ])) as ReadAfterReply;
    const [epoch, head, base] = reply;
    this.epochs.observe(epoch, head, base);
    return replayResult(reply, channels, fresh, position?.seq ?? 0);
  }

  async subscribe(
    channel: string,
    listener: StoreListener,
    options: StoreSubscribeOptions = {},
  ): Promise<() => void> {
    const alone = options.channelOrderOnly === true;
    const reserved = alone ? this.runStore.lastReserved(channel) : undefined;
    if (reserved !== undefined) {
      // A run this process produces: its events from here on are made here and delivered as they
      // are made (`append`); those before, even if not yet stored, are in the replay read next
      // (it sends the pending batch first). No round trip.
      return this.reader.add(channel, listener, String(reserved), true).unsubscribe;
    }
    const reply = (await this.runScript(
      'subscribe',
      scripts.position,
      [...this.keys.history, this.keys.closed, this.keys.meta(channel)],
      [channel],
    )) as [string, number, string, number, number];
    const [epoch, head, lastSeq, closed, base] = reply;
    this.epochs.observe(epoch, head, base);
    // From here on every entry of the channel is after `lastSeq`, so the reader delivers it.
    const { unsubscribe, caughtUp } = this.reader.add(channel, listener, lastSeq, alone);
    // Followed alone: its order is the channel's own, so there is nothing to level it with.
    if (!alone) await this.levelled(caughtUp, unsubscribe);
    // Closed between the hub's check and now: its streams must still end.
    if (closed === 1) setImmediate(() => listener.closed());
    return unsubscribe;
  }

  /** Waits for the reader to bring a new channel level with the others (reader.ts, `add`). */
  private async levelled(caughtUp: Promise<void>, unsubscribe: () => void): Promise<void> {
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
      this.runner.noteTimeout('the reader did not catch up in time');
      throw this.runner.unavailable('subscribe');
    }
  }

  async closeChannel(channel: string, final?: Buffer): Promise<void> {
    const [epoch, seq, base] = (await this.runScript(
      'close the channel',
      scripts.close,
      this.channelKeys(channel),
      [channel, CLOSED_HISTORY_TTL_MS, final ? final.toString() : ''],
    )) as [string, number, number];
    this.epochs.observe(epoch, seq - 1, base, seq);
    // The close marker ends local streams through the reader, even on a run's channel that
    // this process writes alone and otherwise doesn't read.
    this.reader.readAgain(channel);
  }

  async reopenChannel(channel: string): Promise<void> {
    this.batcher.flush();
    // Also lift the expiry closing put on the stream, or history published after the reopen
    // would vanish with it (publishes re-apply maxAgeMs when it is set).
    await this.runner.run('reopen the channel', () =>
      this.commands
        .multi()
        .srem(this.keys.closed, channel)
        .persist(this.keys.stream(channel))
        .exec(),
    );
  }

  async isClosed(channel: string): Promise<boolean> {
    // A run produced here with its ids reserved: its appends would have been refused (and the
    // ids dropped) had it been closed. No round trip before its follower's first token.
    if (this.runStore.lastReserved(channel) !== undefined) return false;
    this.batcher.flush();
    const member = await this.runner.run('check the channel', () =>
      this.commands.sismember(this.keys.closed, channel),
    );
    return member === 1;
  }

  stats(): RedisStoreStats {
    return redisStoreStats({
      runner: this.runner,
      reader: this.reader,
      epochs: this.epochs,
      batcher: this.batcher,
    });
  }

  /** Quits both connections, so the process can exit. */
  async close(): Promise<void> {
    if (this.runner.closed) return;
    // What was published before close() is still sent (and settled) before the connection quits.
    this.batcher.flush();
    this.runner.close();
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

  private noteError(error: unknown): void {
    this.runner.noteError(error);
  }

  /** What the reader needs of the store: kept off the store's public face. */
  private readerHost(): ReaderHost {
    const { epochs, keys, runner } = this;
    const commands = this.commands;
    const runs = (): RedisRunStore => this.runStore;
    return {
      keys,
      get epoch() {
        return epochs.epoch;
      },
      vouch: (conn) => epochs.vouch(conn),
      confirm: (before, after, head, base, seenBefore) =>
        epochs.confirm(before, after, head, base, seenBefore),
      writesAlone: (channel) => runs().writesAlone(channel),
      wake: async (key) => {
        if (commands.status !== 'ready') return;
        await commands
          .pipeline()
          .xadd(key, 'MAXLEN', '1', '*', 'w', '1')
          .pexpire(key, WAKE_TTL_MS)
          .exec();
      },
      noteError: (error) => runner.noteError(error),
      noteSeq: (seq) => epochs.noteSeq(seq),
    };
  }
}

/** A Redis Streams store for `createHub({ store: redisStore({ url }) })`. */
export function redisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}
