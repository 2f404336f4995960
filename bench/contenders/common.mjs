/**
 * What every contender shares: the payload shape, the publish loop behind POST /broadcast,
 * GET /stats, and reporting the port to the driver over IPC. Only the SSE part differs
 * (serve.mjs mounts all of it on node:http, Express or Fastify).
 */
import { performance } from 'node:perf_hooks';

/** Microseconds on CLOCK_MONOTONIC: the same clock in every process of this machine. */
export function nowMicros() {
  return Number(process.hrtime.bigint() / 1000n);
}

const padCache = new Map();

/**
 * About `size` bytes, ending in `<seq> <sendMicros>~`. The driver counts `~` bytes to count
 * events and reads seq and timestamp backwards from the last one. No line breaks, no `~` else.
 */
export function makePayload(size, seq) {
  const tail = ` ${seq} ${nowMicros()}~`;
  const padLength = Math.max(0, size - tail.length);
  let pad = padCache.get(padLength);
  if (pad === undefined) {
    pad = 'x'.repeat(padLength);
    padCache.set(padLength, pad);
  }
  return pad + tail;
}

/**
 * The contract's control side. `publish(payload, seq)` sends one event to every subscriber and
 * may return the event's id (or a promise of it). `clients()` counts subscribed connections.
 */
export function createControl({ name, variant, publish, clients, extraStats }) {
  let seq = 0;
  const startedAt = performance.now();

  /** Runs one POST /broadcast. Bursts publish back to back in one tick, as users do. */
  async function broadcast(query) {
    const count = intParam(query, 'count', 1);
    const size = intParam(query, 'size', 100);
    const interval = intParam(query, 'interval', 0);
    const wantIds = query.get('ids') === '1';
    const first = seq + 1;
    if (interval > 0) {
      // One event per interval; the response returns at once with the seq range to expect.
      seq += count;
      let next = first;
      const timer = setInterval(() => {
        publish(makePayload(size, next), next);
        next++;
        if (next > first + count - 1) clearInterval(timer);
      }, interval);
      return { first, last: seq };
    }
    const ids = [];
    for (let i = 0; i < count; i++) {
      seq++;
      const id = publish(makePayload(size, seq), seq);
      if (wantIds) ids.push(id);
    }
    return wantIds
      ? { first, last: seq, ids: (await Promise.all(ids)).map(String) }
      : { first, last: seq };
  }

  /** GET /stats: CPU first (so the GC below isn't billed to the workload), then memory after GC. */
  function stats(query) {
    const cpu = process.cpuUsage();
    const out = {
      name,
      variant,
      clients: clients(),
      seq,
      cpuMicros: cpu.user + cpu.system,
      uptimeMs: performance.now() - startedAt,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      ...(extraStats ? extraStats() : {}),
    };
    if (query.get('gc') === '1' && typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    const mem = process.memoryUsage();
    out.heapUsedBytes = mem.heapUsed;
    out.rssBytes = mem.rss;
    // (external already counts arrayBuffers.)
    out.externalBytes = mem.external;
    out.arrayBuffersBytes = mem.arrayBuffers;
    return out;
  }

  return { broadcast, stats };
}

/** The control of the ssekit contenders: every event goes through `hub` to channel 'bcast'. */
export function createHubControl(hub, { name, variant, frameStats = true }) {
  return createControl({
    name,
    variant,
    clients: () => hub.stats().clients,
    publish: (payload) => hub.publish('bcast', payload),
    extraStats: frameStats ? () => hubFrameStats(hub) : undefined,
  });
}

function hubFrameStats(hub) {
  const s = hub.stats();
  return {
    framesWritten: s.framesWritten,
    droppedForOverflow: s.droppedForOverflow,
    replaysServed: s.replaysServed,
  };
}

function intParam(query, key, fallback) {
  const raw = query.get(key);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad ${key}: ${raw}`);
  return value;
}

/** Tells the driver where we listen, and exits when it says so (or when it goes away). */
export function reportReady(port) {
  if (!process.send) {
    console.log(JSON.stringify({ port }));
    return;
  }
  process.send({ type: 'ready', port });
  process.on('message', (message) => {
    if (message && message.type === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
}
