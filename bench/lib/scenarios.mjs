/**
 * The measured scenarios. Each starts a fresh contender process, opens its clients, measures,
 * verifies every reader got exactly the events published (count and last seq), and stops it.
 * Every wait is bounded; a wrong count throws.
 */
import { ClientGroup } from './client-group.mjs';
import { ContenderProcess } from './contender-process.mjs';
import { nowMicros } from './sse-client.mjs';

/** Generous bound for one burst: at least 20k deliveries/s, plus 15 s. */
function burstTimeout(deliveries) {
  return 15_000 + Math.ceil(deliveries / 20);
}

async function withContender(def, ctx, run) {
  const proc = await new ContenderProcess(def, ctx).start();
  const groups = [];
  const open = (port) => {
    const group = new ClientGroup(port);
    groups.push(group);
    return group;
  };
  try {
    const result = await run(proc, open);
    result.variant = (await proc.stats()).variant;
    return result;
  } finally {
    for (const g of groups) g.close();
    await proc.stop();
  }
}

/** One measured burst: K events back to back; returns deliveries/s and CPU ms per 1k deliveries. */
async function burst(proc, group, { k, p }) {
  const before = await proc.stats();
  const readers = group.readers.length;
  const deliveries = readers * k;
  const wait = group.expect(k, burstTimeout(deliveries));
  const t0 = nowMicros();
  const published = await proc.broadcast({ count: k, size: p });
  const t1 = await wait;
  const after = await proc.stats();
  const seconds = (t1 - t0) / 1e6;
  const cpuMs = (after.cpuMicros - before.cpuMicros) / 1000;
  return {
    published,
    deliveries,
    seconds,
    rate: deliveries / seconds,
    cpuPer1k: cpuMs / (deliveries / 1000),
  };
}

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function assertVerified(group, count, lastSeq, what) {
  const problems = group.verify(count, lastSeq);
  if (problems.length > 0) {
    throw new Error(
      `${what}: ${problems.length} client(s) wrong, e.g. ${problems.slice(0, 3).join('; ')}`,
    );
  }
}

/**
 * Fan-out at N connections: optional idle-memory measure first, one warm-up burst, `bursts`
 * measured bursts (median taken), then optionally a latency run on the same connections.
 */
export function fanoutSession(def, params, ctx) {
  const { n, k, p, bursts, memory, latency } = params;
  return withContender(def, ctx, async (proc, open) => {
    const result = { n, k, p };
    const group = open(proc.port);
    const base = memory ? await proc.stats({ gc: true }) : undefined;
    await group.open(n);
    await proc.waitForClients(n);
    if (base) {
      const idle = await proc.stats({ gc: true });
      result.heapPerConn = (idle.heapUsedBytes - base.heapUsedBytes) / n;
      result.rssPerConn = (idle.rssBytes - base.rssBytes) / n;
    }
    let expected = 0;
    let lastSeq = 0;
    const runs = [];
    // A smaller first burst warms up the JIT (and the sockets' buffers) without being measured.
    const warm = await burst(proc, group, { k: params.warmupK ?? k, p });
    expected += params.warmupK ?? k;
    lastSeq = warm.published.last;
    for (let i = 0; i < bursts; i++) {
      const run = await burst(proc, group, { k, p });
      expected += k;
      lastSeq = run.published.last;
      runs.push(run);
    }
    result.rate = median(runs.map((r) => r.rate));
    result.cpuPer1k = median(runs.map((r) => r.cpuPer1k));
    if (latency) {
      const sink = [];
      group.setLatencySink(sink);
      const before = await proc.stats();
      const wait = group.expect(latency.count, latency.count * latency.interval + 30_000);
      const published = await proc.broadcast({
        count: latency.count,
        size: p,
        interval: latency.interval,
      });
      await wait;
      const after = await proc.stats();
      group.setLatencySink(undefined);
      expected += latency.count;
      lastSeq = published.last;
      sink.sort((a, b) => a - b);
      result.latencySamples = sink.length;
      result.p50Ms = percentile(sink, 0.5) / 1000;
      result.p99Ms = percentile(sink, 0.99) / 1000;
      result.maxMs = sink[sink.length - 1] / 1000;
      result.latencyCpuPer1k =
        (after.cpuMicros - before.cpuMicros) / 1000 / ((latency.count * n) / 1000);
    }
    await proc.stats(); // one more round trip: a late duplicate would show in the counts below
    assertVerified(group, expected, lastSeq, `${def.key} fan-out N=${n}`);
    return result;
  });
}

/**
 * Reconnect storm: N clients get `history` events, all disconnect, then all reconnect at once
 * with a Last-Event-ID `back` events before the end. Time until every one has caught up, and CPU.
 */
export function stormSession(def, params, ctx) {
  const { n, p, history, back } = params;
  return withContender(def, ctx, async (proc, open) => {
    const first = open(proc.port);
    await first.open(n);
    await proc.waitForClients(n);
    const wait = first.expect(history, burstTimeout(n * history));
    const published = await proc.broadcast({ count: history, size: p, ids: true });
    await wait;
    assertVerified(first, history, published.last, `${def.key} storm warm-up`);
    const lastEventId = published.ids[published.ids.length - 1 - back];
    first.close();
    await proc.waitForClients(0);
    const storm = open(proc.port);
    const before = await proc.stats();
    const caughtUp = storm.expectFromOpen(back, n, burstTimeout(n * back));
    const t0 = nowMicros();
    await storm.open(n, { lastEventId, concurrency: n });
    const t1 = await caughtUp;
    const after = await proc.stats();
    await proc.stats();
    assertVerified(storm, back, published.last, `${def.key} reconnect storm`);
    return {
      n,
      back,
      seconds: (t1 - t0) / 1e6,
      cpuMs: (after.cpuMicros - before.cpuMicros) / 1000,
    };
  });
}

/**
 * Slow consumers: N healthy readers take bursts alone (A), then with `slow` more clients that
 * never read (B), then alone again once those are gone (A'). Baseline = A + A', so the JIT and
 * socket-buffer warm-up don't favour either side. Peak RSS is the process's max RSS after B.
 */
export function slowSession(def, params, ctx) {
  const { n, slow, k, p, bursts, baselineBursts } = params;
  return withContender(def, ctx, async (proc, open) => {
    const group = open(proc.port);
    await group.open(n);
    await proc.waitForClients(n);
    let expected = 0;
    let lastSeq = 0;
    const phase = async (count, size = k) => {
      let seconds = 0;
      let deliveries = 0;
      for (let i = 0; i < count; i++) {
        const run = await burst(proc, group, { k: size, p });
        seconds += run.seconds;
        deliveries += run.deliveries;
        expected += size;
        lastSeq = run.published.last;
      }
      return { seconds, deliveries };
    };
    await phase(1, params.warmupK ?? k); // warm-up
    const before = await phase(baselineBursts);
    const beforeSlow = await proc.stats();
    const slowClients = await group.open(slow, { paused: true });
    await proc.waitForClients(n + slow);
    const during = await phase(bursts);
    const end = await proc.stats();
    for (const c of slowClients) {
      c.expectedClose = true;
      c.destroy();
    }
    await proc.waitForClients(n);
    const after = await phase(baselineBursts);
    assertVerified(group, expected, lastSeq, `${def.key} slow consumers`);
    const baseline = (before.deliveries + after.deliveries) / (before.seconds + after.seconds);
    const withSlow = during.deliveries / during.seconds;
    return {
      n,
      slow,
      baseline,
      withSlow,
      change: withSlow / baseline - 1,
      peakRssBefore: beforeSlow.maxRssBytes,
      peakRss: end.maxRssBytes,
      rssEnd: end.rssBytes,
      slowStillOpen: end.clients - n,
      slowBytesPerClient: k * bursts * p,
    };
  });
}

export { median };
