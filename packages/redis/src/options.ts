import type { ReplayLimits } from '@ssekit/core/store';
import type { RedisOptions } from 'ioredis';

export interface RedisStoreOptions extends ReplayLimits {
  /** A Redis URL, e.g. `redis://127.0.0.1:6379/0`. */
  url?: string;
  /**
   * ioredis options (host, port, password, tls, ...), merged over the URL. The store always
   * sets `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` and
   * `autoResendUnfulfilledCommands: false`: while Redis is away, commands fail at once instead
   * of piling up in memory.
   */
  redis?: RedisOptions;
  /**
   * Prefix of every key the store writes. Hubs that should share channels use the same prefix;
   * each prefix is one history with its own epoch and counter. Default `ssekit:`. On Redis
   * Cluster, put a hash tag in it (`{ssekit}:`) so all keys share one slot.
   */
  prefix?: string;
  /** How long one XREAD blocks before the reader checks the epoch again, in ms. Default 5,000. */
  blockMs?: number;
  /** Most entries read per stream per XREAD. Default 1,000. */
  readCount?: number;
  /** Reconnect delay after the nth failed attempt, in ms. Default `min(50 * 2^n, 2000)`. */
  retryDelay?: (attempt: number) => number;
  /**
   * How long a command (a publish, a replay, a subscribe) may take before it fails with
   * `RedisUnavailableError` and `stats().status` reads `degraded`, in ms. Default 3,000. A command
   * that timed out was sent: if Redis was only slow it may still run later (a publish is then
   * delivered to everyone, at least once, never lost silently). The reader's blocking XREAD gets
   * `blockMs` on top.
   */
  commandTimeout?: number;
  /**
   * Whether Redis persists every write before answering it (`appendonly yes` and `appendfsync
   * always`), so that a restart loses nothing it acknowledged and clients resume exactly across it.
   * Default: asked with `CONFIG GET` on every new connection; where CONFIG is not allowed (some
   * managed services) it counts as not durable, and a restart makes every earlier id `stale`.
   */
  durable?: boolean;
}

export const DEFAULT_PREFIX = 'ssekit:';
export const DEFAULT_BLOCK_MS = 5_000;
export const DEFAULT_READ_COUNT = 1_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 3_000;

export function defaultRetryDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), 2_000);
}

/** Every key the store uses, from one prefix. */
export class StoreKeys {
  /** The current epoch; created with SET NX, so it vanishes (and is renewed) when Redis loses its data. */
  readonly epoch: string;
  /** The hub-wide counter that every channel's ids come from. */
  readonly seq: string;
  /** The set of closed channels. */
  readonly closed: string;
  /** `<run_id>:<master_replid>|<durable>` of the Redis server that vouches for the epoch. */
  readonly origin: string;
  /** Earlier epochs carried over whole into the current one: epoch -> its last seq. */
  readonly epochs: string;
  /** The keys every epoch-vouching script starts with, in order. */
  readonly history: readonly [string, string, string, string];
  constructor(readonly prefix: string) {
    this.epoch = `${prefix}epoch`;
    this.seq = `${prefix}seq`;
    this.closed = `${prefix}closed`;
    this.origin = `${prefix}origin`;
    this.epochs = `${prefix}epochs`;
    this.history = [this.epoch, this.seq, this.origin, this.epochs];
  }
  /** The channel's stream: entry id `<seq>-0`. */
  stream(channel: string): string {
    return `${this.prefix}s:${channel}`;
  }
  /** The channel's bookkeeping hash: last seq, evicted-up-to seq, byte total. */
  meta(channel: string): string {
    return `${this.prefix}m:${channel}`;
  }
  /** A resumable run's state hash (owner, lease, stop request, how it ended). */
  run(key: string): string {
    return `${this.prefix}run:${key}`;
  }
  /** A per-reader stream whose entries only wake that reader's blocking XREAD. */
  wake(readerId: string): string {
    return `${this.prefix}w:${readerId}`;
  }
}
