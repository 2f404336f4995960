/**
 * Adversarial probes of the Redis store's "no read back" shortcuts for run channels
 * (reader.ts `echo` / `readAgain` / `mustRead`, runs/run-store.ts `writesAlone` / `forget`).
 * Each test states what a follower should see; a failure is a defect, not a flaky harness.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createConnection, createServer, type Socket } from 'node:net';
import { createHub, type Hub, runChannel } from '@ssekit/core';
import { parseEventId } from '@ssekit/core/store';
import { type RedisStore, redisStore } from '@ssekit/redis';
import {
  type CoreServer,
  cleanupAfterEach,
  deferred,
  redisServerPerFile,
  runClaim,
  StoreRecorder,
  startRunServer,
  watch,
} from '@ssekit/test-support';
import { describe, expect, it } from 'vitest';

const redis = redisServerPerFile();

const cleanups = cleanupAfterEach();

let prefixes = 0;
function nextPrefix(): string {
  return `probe${++prefixes}:`;
}

function hubOn(prefix: string, url = redis.url, commandTimeout?: number): Hub {
  const hub = createHub({
    store: redisStore({
      url,
      prefix,
      retryDelay: () => 50,
      ...(commandTimeout ? { commandTimeout } : {}),
    }),
  });
  cleanups.push(() => hub.close());
  return hub;
}

function storeOn(prefix: string, url = redis.url): RedisStore {
  const store = redisStore({ url, prefix, retryDelay: () => 50 });
  cleanups.push(() => store.close());
  return store;
}

/** `GET /?key=K` follows run K on `hub` (test-support's run server, closed after each test). */
async function follower(hub: Hub): Promise<CoreServer> {
  const server = await startRunServer(hub);
  cleanups.push(() => server.close());
  return server;
}

/** A source that yields `first` tokens at once, then waits for `gate`, then yields `after` more. */
async function* gated(first: number, gate: Promise<void>, after: number): AsyncGenerator<string> {
  for (let i = 0; i < first; i++) yield `t${i} `;
  await gate;
  for (let i = first; i < first + after; i++) yield `t${i} `;
}

/**
 * A loopback proxy in front of Redis whose server-to-client bytes, on the connection that sends
 * an XREAD naming `armedKey`, can be held (buffered in order) and released later. Lets a test
 * hold a reader's reply that Redis has already produced.
 */
async function holdingProxy(target: number) {
  let armedKey: string | undefined;
  let gated: { client: Socket; chunks: Buffer[] } | undefined;
  let onHeld: (() => void) | undefined;
  let down = false;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (down) {
        // Redis is unreachable: nothing sent now reaches it.
        drop();
        return;
      }
      const text = chunk.toString('latin1');
      if (armedKey && !gated && text.includes('XREAD') && text.includes(armedKey)) {
        gated = { client, chunks: [] };
        armedKey = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (gated && gated.client === client) {
        gated.chunks.push(chunk);
        onHeld?.();
        onHeld = undefined;
        return;
      }
      client.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    for (const socket of open) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    /** The next XREAD naming `key` has its reply held; resolves once reply bytes are held. */
    arm(key: string): Promise<void> {
      armedKey = key;
      return new Promise<void>((resolve) => {
        onHeld = resolve;
      });
    },
    /** Unreachable: open connections drop at their next command, new ones are refused. */
    down(): void {
      down = true;
    },
    up(): void {
      down = false;
    },
    release(): void {
      const held = gated;
      gated = undefined;
      if (held) for (const chunk of held.chunks) held.client.write(chunk);
    },
  };
}

describe('probe: own appends delivered without read back', () => {
  it("a run's channel closed by another process ends the producer's own followers too", async () => {
    const prefix = nextPrefix();
    const a = hubOn(prefix);
    const b = hubOn(prefix);
    const onA = await follower(a);
    const onB = await follower(b);
    const gate = deferred();
    const run = await a.startRun(() => gated(2, gate.promise, 3), { leaseMs: 300 });
    const clientA = watch(`${onA.url}?key=${run.key}`, ['done', 'stopped']);
    const clientB = watch(`${onB.url}?key=${run.key}`, ['done', 'stopped']);
    cleanups.push(() => clientA.close());
    cleanups.push(() => clientB.close());
    await clientA.until(() => clientA.events.length >= 2, 'two tokens on A');
    await clientB.until(() => clientB.events.length >= 2, 'two tokens on B');
    // Another process closes the run's channel (the hub does not refuse it).
    await b.closeChannel(runChannel(run.key) as never);
    // Like any closed channel's stream: ended, and the reconnect is refused with 204.
    await clientB.until(() => clientB.source.readyState === 2, 'B follower closed for good', 3_000);
    gate.resolve();
    expect(await run.ended).toBe('error');
    // Several leases pass; A's follower must have been ended by now as B's was.
    await clientA.until(() => clientA.source.readyState === 2, 'A follower closed for good', 3_000);
  });

  it('a run whose terminal publish failed (Redis unreachable at that moment) is not left "written alone": a later run with the same key reaches followers on that process', async () => {
    const prefix = nextPrefix();
    const proxy = await holdingProxy(redis.port);
    const a = hubOn(prefix, proxy.url);
    const b = hubOn(prefix);
    const gate = deferred();
    const run = await a.startRun(() => gated(0, gate.promise, 0), { key: 'same', leaseMs: 300 });
    // Redis is unreachable from A just as the source ends: the terminal `done` can't be stored,
    // so the run is never ended in the store (nor forgotten by A's run store).
    proxy.down();
    gate.resolve();
    const ended = await run.ended;
    proxy.up();
    expect(ended).toBe('done');
    // The run is recorded running with a lapsed lease; a follower on B ends it as interrupted.
    const onB = await follower(b);
    const first = watch(`${onB.url}?key=same`, ['done', 'stopped']);
    cleanups.push(() => first.close());
    await first.until(() => first.source.readyState === 2, 'the interrupted end on B', 5_000);
    expect((await b.runStatus('same'))?.status).toBe('interrupted');
    // The key is started again, on B. A follower on A must get it live.
    const gate2 = deferred();
    const again = await b.startRun(() => gated(1, gate2.promise, 3), {
      key: 'same',
      leaseMs: 300,
    });
    const onA = await follower(a);
    const second = watch(`${onA.url}?key=same`, ['done', 'stopped']);
    cleanups.push(() => second.close());
    await second.until(() => second.events.length >= 1, 'the first token of the new run on A');
    gate2.resolve();
    expect(await again.ended).toBe('done');
    await second.until(
      () => second.events.some((e) => e.type === 'done'),
      'the new run’s tokens and done, live, on A',
      3_000,
    );
    expect(second.events.map((e) => e.data).slice(0, 4)).toEqual(['t0 ', 't1 ', 't2 ', 't3 ']);
  });

  it('an own append whose echo failed while a read of the channel was already answered is still delivered without a further append', async () => {
    const prefix = nextPrefix();
    const proxy = await holdingProxy(redis.port);
    const a = storeOn(prefix, proxy.url);
    const b = storeOn(prefix);
    const channel = 'ssekit:run:race';
    const claimed = await a.runs.claim(runClaim('race'));
    expect(claimed?.status).toBe('running');
    const recorder = new StoreRecorder();
    await a.subscribe(channel, recorder, { channelOrderOnly: true });
    for (let i = 0; i < 3; i++) await a.append(channel, `data: a${i}`, undefined);
    await recorder.until(() => recorder.events.length === 3, 'three, echoed or read');
    // Another process writes in between (as an interrupted end would): A's next echo fails and
    // A reads the channel again. Hold that read's reply, already made by Redis.
    const held = proxy.arm(a.keys.stream(channel));
    await b.append(channel, 'data: from b', undefined);
    // (a3's id was reserved before B's event: it is refused, after reaching A's follower.)
    await expect(a.append(channel, 'data: a3', undefined)).rejects.toThrow(/SSEKIT_STALE/);
    await held;
    // A appends once more meanwhile; its echo fails too (a3 is not delivered yet).
    const id = await a.append(channel, 'data: a4', undefined);
    proxy.release();
    // Nothing more is appended: a4 must still arrive.
    await recorder.until(
      () => recorder.events.some((e) => e.id === id),
      `a4 (${id}) delivered`,
      3_000,
    );
    const seqs = recorder.events.map((e) => parseEventId(e.id)!.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(recorder.events).toHaveLength(6);
  });
});

describe('probe: run state after an interrupted end', () => {
  it('an owner that lost its lease (ended interrupted by another process) cannot overwrite that end with its own', async () => {
    const prefix = nextPrefix();
    const a = storeOn(prefix);
    const b = storeOn(prefix);
    const claim = runClaim('late', { leaseMs: 50 });
    expect(await a.runs.claim(claim)).not.toBeNull();
    // A stalls past its lease; B (Redis's clock) ends the run as interrupted, as the hub does.
    const until = Date.now() + 5_000;
    while (!(await b.runs.interrupt('late'))) {
      if (Date.now() > until) throw new Error('the lease never lapsed');
    }
    const errorId = await b.append(claim.channel, 'event: error\ndata: {}', 'error');
    await b.runs.end('late', null, 'interrupted', errorId, 60_000);
    // A wakes up, its source finished meanwhile: its `done` can't be stored after B's end (its
    // id was reserved before), and recording its end changes nothing.
    await expect(a.append(claim.channel, 'event: done\ndata: {}', 'done')).rejects.toThrow(
      /SSEKIT_STALE/,
    );
    await a.runs.end('late', 'process-a', 'done', `${errorId}0`, 60_000);
    const record = await b.runs.get('late');
    // Followers were told `error` and ended at errorId: the record must keep saying so, or a
    // follower resuming from errorId is let in again and gets a second terminal event.
    expect(record?.status).toBe('interrupted');
    expect(record?.endId).toBe(errorId);
  });
});
