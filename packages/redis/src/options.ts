import type { ReplayLimits } from '@ssekit/core';
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
}

export const DEFAULT_PREFIX = 'ssekit:';
export const DEFAULT_BLOCK_MS = 5_000;
export const DEFAULT_READ_COUNT = 1_000;

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
  constructor(readonly prefix: string) {
    this.epoch = `${prefix}epoch`;
    this.seq = `${prefix}seq`;
    this.closed = `${prefix}closed`;
  }
  /** The channel's stream: entry id `<seq>-0`. */
  stream(channel: string): string {
    return `${this.prefix}s:${channel}`;
  }
  /** The channel's bookkeeping hash: last seq, evicted-up-to seq, byte total. */
  meta(channel: string): string {
    return `${this.prefix}m:${channel}`;
  }
  /** A per-reader stream whose entries only wake that reader's blocking XREAD. */
  wake(readerId: string): string {
    return `${this.prefix}w:${readerId}`;
  }
}
