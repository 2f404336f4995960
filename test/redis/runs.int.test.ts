/**
 * Resumable runs across processes on a real redis-server (issue 13): a run produced by one hub is
 * followed and resumed through another, stopped from a third, reported `interrupted` when its
 * process is killed, and its keys expire after the retention.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Hub } from '@ssekit/core';
import {
  type CoreServer,
  cleanupAfterEach,
  dropAtRandom,
  messageText,
  redisServerPerFile,
  startRunServer,
  tokens,
  tokenText,
  watch,
} from '@ssekit/test-support';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { runHubs } from './run-hubs.js';

const redis = redisServerPerFile();

const cleanups = cleanupAfterEach();

const { hubOn } = runHubs(redis, cleanups, 'runs');
let prefixes = 0;
/** Hubs sharing one prefix: as many processes would, each with its own connections and owner id. */
function hubs(count: number): Hub[] {
  const prefix = `runs${++prefixes}:`;
  return Array.from({ length: count }, () => hubOn(prefix));
}

/**
 * A process producing one run (fixtures/run-producer.mjs) on the prefix of the last `hubs()`:
 * its key, and the port where it serves its own followers.
 */
async function producerProcess(
  leaseMs: number,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; key: string; port: number }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./fixtures/run-producer.mjs', import.meta.url))],
    {
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        PREFIX: `runs${prefixes}:`,
        LEASE_MS: String(leaseMs),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  cleanups.push(() => void child.kill('SIGKILL'));
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, ...(JSON.parse(line) as { key: string; port: number }) };
}

/** `GET /?key=K` follows run K on `hub` (test-support's run server, closed after each test). */
async function follower(hub: Hub): Promise<CoreServer> {
  const server = await startRunServer(hub);
  cleanups.push(() => server.close());
  return server;
}

describe('resumable runs on Redis', () => {
  it('a run started on A is followed on B, which survives 50 dropped sockets: the text is exact', async () => {
    const [a, b] = hubs(2) as [Hub, Hub];
    const onB = await follower(b);
    const run = await a.startRun((signal) => tokens(500, { signal, every: 2 }));
    const client = watch(`${onB.url}?key=${run.key}`, ['done']);
    cleanups.push(() => client.close());
    await dropAtRandom(client, onB.dropAll);
    expect(client.opens).toBeGreaterThan(5);
    expect(messageText(client.events)).toBe(tokenText(500));
  });

  it('a stop from C aborts the source on A (finally once), the follower on B gets stopped, nothing after it', async () => {
    const [a, b, c] = hubs(3) as [Hub, Hub, Hub];
    const onB = await follower(b);
    let finalised = 0;
    // The stop reaches A at its next lease renewal: a third of the lease.
    const run = await a.startRun(
      (signal) => tokens(1_000_000, { signal, every: 2, onFinally: () => finalised++ }),
      {
        leaseMs: 600,
      },
    );
    // ('error' is left out: EventSource also names its connection errors so.)
    const client = watch(`${onB.url}?key=${run.key}`, ['stopped', 'done']);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length >= 3, 'some tokens');
    expect(await c.stopRun(run.key)).toBe(true);
    expect(await run.ended).toBe('stopped');
    await client.until(() => client.source.readyState === 2, 'stopped, then closed for good');
    expect(client.events.at(-1)?.type).toBe('stopped');
    expect(client.events.filter((e) => e.type !== 'message')).toHaveLength(1);
    expect(finalised).toBe(1);
  });

  it('kill -9 of the producing process: followers elsewhere get error (interrupted) within the lease bound', async () => {
    const [b] = hubs(1) as [Hub];
    const onB = await follower(b);
    const leaseMs = 300;
    const { child, key } = await producerProcess(leaseMs);
    const client = watch(`${onB.url}?key=${key}`, ['error']);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length >= 2, 'tokens from the producer');
    child.kill('SIGKILL');
    const killedAt = Date.now();
    // EventSource also dispatches its own connection errors as 'error' (without data).
    const terminalOf = () =>
      client.events.find((e) => e.type === 'error' && e.data !== 'undefined');
    await client.until(() => terminalOf() !== undefined, 'interrupted', 10_000);
    const after = Date.now() - killedAt;
    const terminal = terminalOf()!;
    expect(JSON.parse(terminal.data)).toMatchObject({ reason: 'interrupted' });
    // The lease, plus one check period (a third of it) and some slack for the machine.
    expect(after).toBeLessThan(leaseMs * 2 + 1_000);
    await client.until(() => client.source.readyState === 2, 'closed for good');
    // The key can be started again.
    const again = await b.startRun((signal) => tokens(2, { signal }), { key });
    expect(await again.ended).toBe('done');
  });

  it('a producer paused past its lease: its own followers get error (interrupted) once it wakes, though it writes nothing more', async () => {
    const [b] = hubs(1) as [Hub];
    const onB = await follower(b);
    const leaseMs = 300;
    const { child, key, port } = await producerProcess(leaseMs, { QUIET_AFTER: '3' });
    // One follower on the producing process (it reads nothing back from Redis for this run:
    // it wrote everything itself), one elsewhere (it watches the lease).
    const own = watch(`http://127.0.0.1:${port}/?key=${key}`, ['error']);
    const other = watch(`${onB.url}?key=${key}`, ['error']);
    cleanups.push(() => own.close());
    cleanups.push(() => other.close());
    const terminalOf = (client: typeof own) =>
      client.events.find((e) => e.type === 'error' && e.data !== 'undefined');
    await own.until(() => own.events.length >= 3, "the producer's 3 tokens");
    child.kill('SIGSTOP');
    await other.until(() => terminalOf(other) !== undefined, 'interrupted, from B', 10_000);
    child.kill('SIGCONT');
    const wokenAt = Date.now();
    // Woken, it finds its lease lost at its next renewal (a third of the lease); what B wrote to
    // the run's channel then reaches its followers at once, not at the reader's next timeout.
    await own.until(() => terminalOf(own) !== undefined, 'interrupted, on the producer', 10_000);
    expect(Date.now() - wokenAt).toBeLessThan(leaseMs * 2 + 1_000);
    expect(JSON.parse(terminalOf(own)!.data)).toMatchObject({ reason: 'interrupted' });
    expect(messageText(own.events)).toBe('t0 t1 t2 ');
  });

  it('after the retention: 204, and the run keys are gone from Redis (SCAN)', async () => {
    const [a, b] = hubs(2) as [Hub, Hub];
    const prefix = `runs${prefixes}:`;
    const onB = await follower(b);
    const run = await a.startRun((signal) => tokens(5, { signal }), { retentionMs: 300 });
    expect(await run.ended).toBe('done');
    const whole = await (await fetch(`${onB.url}?key=${run.key}`)).text();
    expect(whole).toContain('event: done');
    const conn = new Redis(redis.url);
    cleanups.push(() => void conn.disconnect());
    const keysOf = async (): Promise<string[]> => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await conn.scan(cursor, 'MATCH', `${prefix}*run*${run.key}*`);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
      return found;
    };
    expect((await keysOf()).length).toBeGreaterThan(0);
    await waitFor(async () => (await fetch(`${onB.url}?key=${run.key}`)).status === 204);
    await waitFor(async () => (await keysOf()).length === 0);
    expect((await fetch(`${onB.url}?key=${run.key}`)).status).toBe(404);
  });
});

/** Polls state held in Redis (no event announces an expiry), bounded. */
async function waitFor(condition: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
