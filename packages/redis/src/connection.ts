/** ioredis connections that fail fast while Redis is away, and the errors the store raises. */
import { Redis, type RedisOptions } from 'ioredis';
import { defaultRetryDelay, type RedisStoreOptions } from './options.js';

/** Thrown while Redis can't be reached: nothing was stored (or, for an in-flight command, maybe). */
export class RedisUnavailableError extends Error {
  readonly code = 'SSEKIT_REDIS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
  }
}

export type ConnectionState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

export function connectionState(conn: Redis): ConnectionState {
  switch (conn.status) {
    case 'ready':
      return 'ready';
    case 'wait':
    case 'connecting':
    case 'connect':
      return 'connecting';
    case 'reconnecting':
    case 'close':
      return 'reconnecting';
    default:
      return 'closed';
  }
}

export function openConnection(options: RedisStoreOptions, role: string, lazy: boolean): Redis {
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  const settings: RedisOptions = {
    retryStrategy: (attempt) => retryDelay(attempt),
    connectionName: `ssekit-${role}`,
    ...options.redis,
    // No offline queue and no resend: while Redis is away a command fails at once rather than
    // waiting in an unbounded queue, and an in-flight one fails instead of running twice.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: lazy,
    // RESP2 keeps reply shapes (XREAD, script tables) the same on every Redis version.
    protocol: 2,
  };
  return options.url ? new Redis(options.url, settings) : new Redis(settings);
}

/** Resolves once `conn` is ready, or when `stop` fires; never rejects. */
export function onceReady(conn: Redis, stop: AbortSignal): Promise<void> {
  if (conn.status === 'ready' || stop.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      conn.off('ready', done);
      conn.off('end', done);
      stop.removeEventListener('abort', done);
      resolve();
    };
    conn.on('ready', done);
    conn.on('end', done);
    stop.addEventListener('abort', done);
  });
}

/** The first connection attempt: resolves when ready, rejects when it fails. */
export function firstConnect(conn: Redis): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      conn.off('ready', onReady);
      conn.off('close', onClose);
      conn.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    let lastError: Error | undefined;
    const onReady = (): void => settle();
    const onError = (error: Error): void => {
      lastError = error;
    };
    const onClose = (): void => settle(lastError ?? new Error('connection closed'));
    conn.on('ready', onReady);
    conn.on('close', onClose);
    conn.on('error', onError);
  });
}

/** ioredis's ReplyError: Redis answered with an error, so the connection itself is fine. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}
