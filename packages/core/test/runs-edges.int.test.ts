/**
 * Adversarial probes (second round) of resumable runs on the in-memory store: hub.close mid-run,
 * stop twice, follow after stop, and many starts of one key at once.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createHub,
  type Hub,
  MemoryStore,
  RUN_START_EVENT,
  RunExistsError,
  SseStream,
} from '@ssekit/core';
import {
  type CoreServer,
  cleanupAfterEach,
  deferred,
  delegatingStore,
  type EventRecorder,
  messageText,
  recordUnhandledRejections,
  startRunServer,
  terminalEvent,
  watch,
} from '@ssekit/test-support';
import { describe, expect, it } from 'vitest';

const unhandled = recordUnhandledRejections();

const cleanups = cleanupAfterEach();

async function serve(hub: Hub): Promise<CoreServer> {
  const server = await startRunServer(hub);
  cleanups.push(() => server.close());
  return server;
}

function follow(server: CoreServer, key: string): EventRecorder {
  const client = watch(`${server.url}?key=${key}`, ['done', 'stopped', 'error']);
  cleanups.push(() => client.close());
  return client;
}

const terminalOf = (client: EventRecorder) => terminalEvent(client.events);

/** Yields `first`, then waits until its signal aborts; counts its `finally`. */
function parked(finalised: { count: number }) {
  return async function* (signal: AbortSignal): AsyncGenerator<string> {
    try {
      yield 'first ';
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    } finally {
      finalised.count++;
    }
  };
}

describe('resumable runs on the memory store, adversarially', () => {
  it('hub.close() mid-run: the source is finalised once, the follower ends for good, no run left, no unhandled rejection', async () => {
    const hub = createHub();
    const server = await serve(hub);
    const finalised = { count: 0 };
    const run = await hub.startRun(parked(finalised), { keepAlive: true });
    const client = follow(server, run.key);
    await client.until(() => messageText(client.events) === 'first ', 'the first token');
    await hub.close();
    await run.ended;
    expect(finalised.count).toBe(1);
    expect(hub.stats().runs).toBe(0);
    // Closed hub: its reconnects are refused (the memory store is gone with it), not held open.
    await client.until(() => client.source.readyState === 2, 'closed for good', 5_000);
    expect(unhandled).toEqual([]);
  });

  it('stop twice: one stopped event, finally once; the second stop after the end says false', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await serve(hub);
    const finalised = { count: 0 };
    const run = await hub.startRun(parked(finalised), { keepAlive: true });
    const client = follow(server, run.key);
    await client.until(() => messageText(client.events) === 'first ', 'the first token');
    const [first, second] = await Promise.all([hub.stopRun(run.key), hub.stopRun(run.key)]);
    expect(first).toBe(true);
    expect(second).toBe(true);
    expect(await run.ended).toBe('stopped');
    expect(await hub.stopRun(run.key)).toBe(false);
    await client.until(() => client.source.readyState === 2, 'stopped, then closed', 5_000);
    expect(client.events.filter((e) => e.type === 'stopped')).toHaveLength(1);
    expect(finalised.count).toBe(1);
    // Followed after the stop: the whole answer, then stopped, once.
    const late = follow(server, run.key);
    await late.until(() => terminalOf(late) !== undefined, 'stopped on a late follower', 5_000);
    expect(messageText(late.events)).toBe('first ');
    expect(late.events.filter((e) => e.type === 'stopped')).toHaveLength(1);
    expect(unhandled).toEqual([]);
  });

  it('a follower that arrives while the stop is being written gets the stopped event once', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await serve(hub);
    for (let round = 0; round < 20; round++) {
      const finalised = { count: 0 };
      const run = await hub.startRun(parked(finalised), { keepAlive: true });
      const stopping = hub.stopRun(run.key);
      const client = follow(server, run.key);
      await stopping;
      await client.until(
        () => terminalOf(client) !== undefined || client.source.readyState === 2,
        `round ${round}: stopped or 204`,
        5_000,
      );
      expect(client.events.filter((e) => e.type === 'stopped').length).toBeLessThanOrEqual(1);
      client.close();
    }
  });

  it('50 starts of one key at once: exactly one wins, the others get RunExistsError', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const finalised = { count: 0 };
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        hub.startRun(parked(finalised), { key: 'same', keepAlive: true }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost)
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RunExistsError);
    expect(await hub.stopRun('same')).toBe(true);
    expect(hub.stats().runs).toBeLessThanOrEqual(1);
  });

  it("a run's chunk is written before the next timer of its loop turn runs, not at the turn's end", async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const server = await serve(hub);
    const attached = deferred();
    const writtenBeforeNextTimer: boolean[] = [];
    const run = await hub.startRun(
      async function* () {
        await attached.promise;
        for (let i = 0; i < 3; i++) {
          const before = hub.stats().framesWritten;
          // Two timers due together (same delay, made in the same task) run one after the other
          // in one turn: the source's, then the check.
          const due = sleep(5);
          setTimeout(() => writtenBeforeNextTimer.push(hub.stats().framesWritten > before), 5);
          await due;
          yield `t${i} `;
        }
      },
      { keepAlive: true },
    );
    const client = follow(server, run.key);
    await client.opened;
    attached.resolve();
    await client.until(() => terminalOf(client) !== undefined, 'done');
    expect(messageText(client.events)).toBe('t0 t1 t2 ');
    expect(writtenBeforeNextTimer).toEqual([true, true, true]);
  });

  it('the POST shape (start, then follow in the same task) is live before the first chunk: nothing is replayed', async () => {
    const memory = new MemoryStore();
    let replayed = 0;
    const store = delegatingStore(memory, {
      readAfter: async (channels, lastEventId) => {
        const result = await memory.readAfter(channels, lastEventId);
        replayed += result.events.filter((e) => e.event !== RUN_START_EVENT).length;
        return result;
      },
    });
    const hub = createHub({ store });
    cleanups.push(() => hub.close());
    const server = http.createServer((_req, res) => {
      const stream = new SseStream(res, { heartbeat: false }, { hub });
      void (async () => {
        const run = await hub.startRun(
          (async function* () {
            // Chunks made at once, as a source with its first tokens ready would.
            for (let i = 0; i < 3; i++) yield `t${i} `;
          })(),
        );
        await hub.followRun(stream, run.key);
      })();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const client = watch(`http://127.0.0.1:${port}/`, ['done', 'stopped', 'error']);
    cleanups.push(() => client.close());
    await client.until(() => terminalOf(client) !== undefined, 'done');
    expect(messageText(client.events)).toBe('t0 t1 t2 ');
    expect(replayed).toBe(0);
  });
});
