/** What `hub.stats().store` shows for a Redis store. */
import type { StoreStats } from '@ssekit/core/store';
import type { ConnectionState } from './connection.js';

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
  /** Events delivered to local subscribers as read back from Redis. */
  deliveredOnRead: number;
  /**
   * Events this process delivered as soon as it stored them, without reading them back (a run's
   * channel, followed alone, when nothing from elsewhere came in between).
   */
  deliveredOnAppend: number;
  /** Script calls that stored this process's publishes: each stores a batch of them. */
  appendCalls: number;
  epoch: string | null;
  /** Times this process saw the history lost or rewound (each ends the local streams). */
  historyChanges: number;
  /** Times the epoch changed with the history carried over whole (a restart with AOF): no stream ended. */
  epochsCarriedOver: number;
}

/** The parts of a store that stats read. */
export interface StatsSources {
  runner: { readonly status: ConnectionState; readonly lastError: string | null };
  reader: {
    readonly channelCount: number;
    readonly state: string;
    readonly lastDelivered: string | null;
    readonly deliveredOnRead: number;
    readonly deliveredOnAppend: number;
  };
  batcher: { readonly calls: number };
  epochs: {
    readonly epoch: string | undefined;
    readonly historyChanges: number;
    readonly epochsCarriedOver: number;
  };
}

export function redisStoreStats({
  runner,
  reader,
  epochs,
  batcher,
}: StatsSources): RedisStoreStats {
  return {
    kind: 'redis',
    channels: reader.channelCount,
    // The history lives in Redis; counting it would cost a round trip per channel.
    bufferedEvents: 0,
    bufferedBytes: 0,
    status: runner.status,
    readerStatus: reader.state,
    lastError: runner.lastError,
    readerPosition: reader.lastDelivered,
    deliveredOnRead: reader.deliveredOnRead,
    deliveredOnAppend: reader.deliveredOnAppend,
    appendCalls: batcher.calls,
    epoch: epochs.epoch ?? null,
    historyChanges: epochs.historyChanges,
    epochsCarriedOver: epochs.epochsCarriedOver,
  };
}
