/** ioredis connections that fail fast while Redis is away, and how to read their errors. */
import { Redis, type RedisOptions } from 'ioredis';
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  defaultRetryDelay,
  type RedisStoreOptions,
} from './options.js';

/** `degraded`: connected, but commands time out (a hung or overloaded Redis). */
export type ConnectionState = 'connecting' | 'ready' | 'degraded' | 'reconnecting' | 'closed';

/** ioredis's error for a command that outlived `commandTimeout`. */
export function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

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

export function openConnection(
  options: RedisStoreOptions,
  role: 'commands' | 'reader',
  lazy: boolean,
): Redis {
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  const timeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
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
    // Every command fails after the timeout, so a hung Redis is an outage, not a wait forever.
    // The reader's XREAD blocks for blockMs by design: it gets that on top.
    commandTimeout: role === 'reader' ? (options.blockMs ?? DEFAULT_BLOCK_MS) + timeout : timeout,
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

export type DurableFlag = '1' | '0' | '';

const durabilityBySocket = new WeakMap<object, Promise<DurableFlag>>();

/**
 * Whether the server `conn` is connected to persists every write before answering it
 * (`appendonly yes`, `appendfsync always`): '1' or '0', or '' when it can't be told (CONFIG not
 * allowed, or no answer). Asked once per connection (per socket), since a reconnect may reach
 * another server or the same one with another configuration.
 */
export function durability(conn: Redis, configured: boolean | undefined): Promise<DurableFlag> {
  if (configured !== undefined) return Promise.resolve(configured ? '1' : '0');
  const socket = conn.stream as object | undefined;
  if (!socket) return Promise.resolve('');
  let probe = durabilityBySocket.get(socket);
  if (!probe) {
    probe = (conn.call('CONFIG', 'GET', 'appendonly', 'appendfsync') as Promise<string[]>).then(
      (reply) => {
        const config = new Map<string, string>();
        for (let i = 0; i + 1 < reply.length; i += 2) config.set(reply[i]!, reply[i + 1]!);
        return config.get('appendonly') === 'yes' && config.get('appendfsync') === 'always'
          ? '1'
          : '0';
      },
      (error: unknown) => {
        // Not allowed: it stays unknown. Anything else (a timeout): ask again next time.
        if (!isReplyError(error)) durabilityBySocket.delete(socket);
        return '';
      },
    );
    durabilityBySocket.set(socket, probe);
  }
  return probe;
}
