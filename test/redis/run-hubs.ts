/**
 * What the Redis run tests share: hubs on one prefix of a test file's redis-server (each hub a
 * "process"), a run server per hub, and followers; everything goes at the test's cleanup.
 */
import { createHub, type Hub } from '@ssekit/core';
import { redisStore } from '@ssekit/redis';
import {
  type Cleanup,
  type CoreServer,
  type EventRecorder,
  type RedisServer,
  startRunServer,
  watch,
} from '@ssekit/test-support';

export function runHubs(redis: RedisServer, cleanups: Cleanup[], name: string) {
  let prefixes = 0;
  /** A hub on its own store (a process of its own), retrying quickly after a fault. */
  const newHub = (prefix: string, url = redis.url): Hub =>
    createHub({ store: redisStore({ url, prefix, retryDelay: () => 50 }) });
  return {
    nextPrefix: (): string => `${name}${++prefixes}:`,
    /** The same, for a test that closes it itself (as a crash or a shutdown would). */
    newHub,
    /** A hub closed at the test's cleanup. */
    hubOn(prefix: string, url = redis.url): Hub {
      const hub = newHub(prefix, url);
      cleanups.push(() => hub.close());
      return hub;
    },
    /** `GET /?key=K` follows run K on `hub`. */
    async follower(hub: Hub): Promise<CoreServer> {
      const server = await startRunServer(hub);
      cleanups.push(() => server.close());
      return server;
    },
    /** Follows run `key`, from `lastEventId` if given; records the terminal events and gaps. */
    follow(server: CoreServer, key: string, lastEventId?: string): EventRecorder {
      const query = lastEventId === undefined ? '' : `&lastEventId=${lastEventId}`;
      const client = watch(`${server.url}?key=${key}${query}`, [
        'done',
        'stopped',
        'error',
        'ssekit-gap',
      ]);
      cleanups.push(() => client.close());
      return client;
    },
  };
}
