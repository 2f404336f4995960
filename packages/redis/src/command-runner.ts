/**
 * The command connection's runner: every command the store sends goes through `run`, which turns
 * "Redis is away", "still connecting" and "no answer within commandTimeout" into one clear error,
 * `RedisUnavailableError`, and keeps the health that `stats()` reports.
 */
import { StoreUnavailableError } from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import {
  type ConnectionState,
  connectionState,
  firstConnect,
  isReplyError,
  isTimeout,
} from './connection.js';

/**
 * Thrown while Redis can't be reached or doesn't answer within `commandTimeout`: nothing was
 * stored, or, for a command that was in flight, maybe (it may even run later, once a hung Redis
 * resumes).
 */
export class RedisUnavailableError extends StoreUnavailableError {
  declare readonly code: 'SSEKIT_REDIS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause, code: 'SSEKIT_REDIS_UNAVAILABLE' });
    this.name = 'RedisUnavailableError';
  }
}

export class CommandRunner {
  /** The last error seen; null again once a command succeeds. */
  lastError: string | null = null;
  /** A command timed out and none has succeeded since: `degraded`. */
  timedOut = false;
  private closing = false;
  private everReady = false;
  /** One shared wait for the first connection, however many commands race the startup. */
  private firstReady: Promise<void> | undefined;
  /** While degraded: the next PING that checks whether Redis answers again. */
  private probe: NodeJS.Timeout | undefined;

  constructor(
    readonly conn: Redis,
    private readonly commandTimeout: number,
  ) {
    conn.on('ready', () => {
      this.everReady = true;
    });
  }

  /** From now on every command fails: the store is closed. */
  close(): void {
    this.closing = true;
    clearTimeout(this.probe);
  }

  get closed(): boolean {
    return this.closing;
  }

  /** The command connection's state, `degraded` while commands time out. */
  get status(): ConnectionState {
    const status = connectionState(this.conn);
    return this.closing ? 'closed' : status === 'ready' && this.timedOut ? 'degraded' : status;
  }

  noteError(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  /** Runs a command, turning "Redis is away" (or hung) into one clear error. */
  async run<T>(what: string, command: () => Promise<T>): Promise<T> {
    if (this.closing)
      throw new RedisUnavailableError(`ssekit/redis: the store is closed; cannot ${what}`);
    if (this.conn.status !== 'ready') {
      if (this.everReady || this.conn.status === 'end') throw this.unavailable(what);
      // Still making the first connection: wait for it rather than fail a startup race.
      this.firstReady ??= firstConnect(this.conn);
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
      if (isTimeout(error)) this.noteTimeout(`no answer within ${this.commandTimeout} ms`);
      throw this.unavailable(what, error);
    }
  }

  /** Something waited past its bound: `degraded` until a command is answered again. */
  noteTimeout(what: string): void {
    this.timedOut = true;
    this.noteError(new Error(what));
    this.probeLater();
  }

  /**
   * Only a command that gets its answer clears `degraded`: a process that stopped publishing
   * would report it (and fail its health check) long after Redis recovered. So while degraded, a
   * PING goes every commandTimeout until one is answered.
   */
  private probeLater(): void {
    if (this.probe || this.closing) return;
    this.probe = setTimeout(() => {
      this.probe = undefined;
      if (!this.timedOut || this.closing) return;
      this.run('check that Redis answers', () => this.conn.ping()).catch(() => this.probeLater());
    }, this.commandTimeout);
    this.probe.unref();
  }

  /** A command got its answer: Redis is back to normal. */
  private healthy(): void {
    this.timedOut = false;
    this.lastError = null;
  }

  unavailable(what: string, cause?: unknown): RedisUnavailableError {
    // Keep the connection's own error (e.g. ECONNREFUSED) as lastError; the cause says the rest.
    if (cause && this.lastError === null) this.noteError(cause);
    const detail = this.lastError ? ` (last error: ${this.lastError})` : '';
    return new RedisUnavailableError(
      `ssekit/redis: Redis is unavailable, status ${this.status}${detail}; cannot ${what}`,
      { cause },
    );
  }
}
