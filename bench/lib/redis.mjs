/**
 * Issue 8's bench row: fan-out and latency through Redis with three hub processes. The bench
 * starts its own redis-server (no persistence, temp dir, free loopback port) and stops it after.
 */
import { existsSync } from 'node:fs';
import { ClientGroup } from './client-group.mjs';
import { ContenderProcess } from './contender-process.mjs';
import { REDIS_SERVER, startRedis } from './redis-server.mjs';
import { nowMicros } from './sse-client.mjs';

const PROCESSES = 3;

export async function redisAvailable() {
  for (const pkg of ['redis', 'express']) {
    if (!existsSync(new URL(`../../packages/${pkg}/dist/index.js`, import.meta.url))) {
      return { ok: false, reason: `@ssekit/${pkg} is not built (packages/${pkg}/dist is missing)` };
    }
  }
  if (!existsSync(REDIS_SERVER)) return { ok: false, reason: `${REDIS_SERVER} is not installed` };
  return { ok: true };
}

function percentile(sorted, q) {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** N clients spread over three hub processes; events are published on the first one. */
export async function redisSession(_def, params, ctx) {
  const { n, k, p, bursts, latency } = params;
  const redis = await startRedis();
  const procs = [];
  const groups = [];
  try {
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `bench${Date.now()}:` };
    for (let i = 0; i < PROCESSES; i++) {
      procs.push(
        await new ContenderProcess(
          { key: `ssekit-redis#${i + 1}`, file: 'ssekit-redis.mjs' },
          { ...ctx, env },
        ).start(),
      );
    }
    const share = (i) => Math.floor(n / PROCESSES) + (i < n % PROCESSES ? 1 : 0);
    for (const [i, proc] of procs.entries()) {
      const group = new ClientGroup(proc.port);
      groups.push(group);
      await group.open(share(i));
      await proc.waitForClients(share(i));
    }
    const cpu = async () =>
      (await Promise.all(procs.map((pr) => pr.stats()))).reduce((sum, s) => sum + s.cpuMicros, 0);
    const all = async (perClient, timeoutMs) =>
      Math.max(...(await Promise.all(groups.map((g) => g.expect(perClient, timeoutMs)))));
    let expected = 0;
    let lastSeq = 0;
    const runBurst = async (count) => {
      const before = await cpu();
      const wait = all(count, 15_000 + Math.ceil((n * count) / 20));
      const t0 = nowMicros();
      const published = await procs[0].broadcast({ count, size: p });
      const t1 = await wait;
      const after = await cpu();
      expected += count;
      lastSeq = published.last;
      const deliveries = n * count;
      return {
        rate: deliveries / ((t1 - t0) / 1e6),
        cpuPer1k: (after - before) / 1000 / (deliveries / 1000),
      };
    };
    await runBurst(params.warmupK ?? k);
    const runs = [];
    for (let i = 0; i < bursts; i++) runs.push(await runBurst(k));
    const result = {
      n,
      k,
      p,
      processes: PROCESSES,
      rate: median(runs.map((r) => r.rate)),
      cpuPer1k: median(runs.map((r) => r.cpuPer1k)),
    };
    if (latency) {
      const sink = [];
      for (const g of groups) g.setLatencySink(sink);
      const before = await cpu();
      const wait = all(latency.count, latency.count * latency.interval + 30_000);
      const published = await procs[0].broadcast({
        count: latency.count,
        size: p,
        interval: latency.interval,
      });
      await wait;
      const after = await cpu();
      expected += latency.count;
      lastSeq = published.last;
      sink.sort((a, b) => a - b);
      result.p50Ms = percentile(sink, 0.5) / 1000;
      result.p99Ms = percentile(sink, 0.99) / 1000;
      result.maxMs = sink[sink.length - 1] / 1000;
      result.latencyCpuPer1k = (after - before) / 1000 / ((latency.count * n) / 1000);
    }
    await Promise.all(procs.map((pr) => pr.stats()));
    const problems = groups.flatMap((g) => g.verify(expected, lastSeq));
    if (problems.length > 0)
      throw new Error(
        `redis fan-out: ${problems.length} client(s) wrong, e.g. ${problems.slice(0, 3).join('; ')}`,
      );
    result.variant = (await procs[0].stats()).variant;
    return result;
  } finally {
    for (const g of groups) g.close();
    for (const proc of procs) await proc.stop();
    await redis.stop();
  }
}
