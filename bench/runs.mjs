#!/usr/bin/env node
/**
 * The resumable-runs bench (issue 13): many concurrent AI-style answers, each a run of tokens on a
 * fixed schedule with one follower, served by (1) plain non-resumable `res.sse.pipe()`, (2) ssekit
 * runs in memory, (3) ssekit runs through @ssekit/redis, (4) the npm package `resumable-stream` on
 * the same redis-server. Each contender gets a fresh server process (and a fresh redis-server) per
 * round; rounds are interleaved. Writes bench/RUNS.md.
 *
 * Phase 1 (every round): `runs` followers POST /chat (staggered over a second) and get `tokens`
 * tokens each, one every `interval` ms: server CPU per 1,000 tokens, heap per live run (after GC,
 * at the middle of the answers), token latency (source yield to client receive), lag behind the
 * token schedule, and POST-to-first-token time.
 * Phase 2 (resumable contenders): the same load, but every follower's socket is cut after `cuts`
 * random tokens and resumes at once (ssekit: Last-Event-ID, on another process through Redis;
 * resumable-stream: its character offset, also on another process). The concatenated text must
 * equal the source's output, no token twice or missing: a wrong answer from ssekit (or from the
 * plain pipe in phase 1) fails the run; resumable-stream's are reported. Then late followers ask
 * a finished run for its second half.
 *
 * `pnpm bench:runs` (about 4 minutes on 2 cores); `node bench/runs.mjs --smoke` (tiny numbers,
 * under 30 s, writes only to bench/.out/, exits non-zero on a wrong answer).
 * Options: --smoke, --runs=N (300), --tokens=N (500), --interval=MS (20), --rounds=N (3),
 * --resume-rounds=N (1), --cuts=N (2), --only=pipe,memory,redis,resumable-stream, --out=path,
 * --report-only (rewrite the report from its run's data: bench/.out/runs.json, or <out>.json beside --out), --prof (CPU profiles of the servers
 * in bench/.out/prof/).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ContenderProcess } from './lib/contender-process.mjs';
import { createSinks, lateFollow, RunFollower } from './lib/runs-client.mjs';
import { REDIS_SERVER, startRedis } from './lib/runs-infra.mjs';
import { writeRunsReport } from './lib/runs-report.mjs';
import { nowMicros } from './lib/sse-client.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const smoke = args.has('smoke');
const num = (key, fallback) => {
  const value = Number(args.get(key) ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`--${key}: ${args.get(key)}`);
  return value;
};
const plan = smoke
  ? {
      runs: num('runs', 20),
      tokens: num('tokens', 40),
      interval: num('interval', 10),
      staggerMs: 100,
      rounds: num('rounds', 1),
      resumeRounds: num('resume-rounds', 1),
      cuts: num('cuts', 2),
      late: 3,
      warmup: { runs: 5, tokens: 10, interval: 1 },
    }
  : {
      runs: num('runs', 300),
      tokens: num('tokens', 500),
      interval: num('interval', 20),
      staggerMs: 1000,
      rounds: num('rounds', 3),
      resumeRounds: num('resume-rounds', 1),
      cuts: num('cuts', 2),
      late: 10,
      warmup: { runs: 20, tokens: 50, interval: 2 },
    };
// Receive times this close after the mid-run GC (µs) are left out of latency and lag.
const GC_MARGIN_MICROS = 100_000;

const CONTENDERS = [
  {
    key: 'pipe',
    label: 'plain `res.sse.pipe()` (not resumable)',
    file: 'runs-pipe.mjs',
    resume: 'none',
  },
  {
    key: 'memory',
    label: 'ssekit runs, in memory',
    file: 'runs-memory.mjs',
    resume: 'id',
    ours: true,
  },
  {
    key: 'redis',
    label: 'ssekit runs, @ssekit/redis',
    file: 'runs-redis.mjs',
    resume: 'id',
    redis: true,
    ours: true,
  },
  {
    key: 'resumable-stream',
    label: '`resumable-stream` + node-redis',
    file: 'runs-resumable-stream.mjs',
    resume: 'chars',
    redis: true,
  },
];

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = `${here}.out`;
mkdirSync(outDir, { recursive: true });
const reportPath = args.get('out') ?? `${here}RUNS.md`;
// A run's data beside its report: a run with --out never overwrites what RUNS.md was made from.
const dataPath = args.has('out')
  ? `${reportPath.replace(/\.md$/, '')}.json`
  : `${outDir}/runs.json`;
// Re-renders a report from its run's data (e.g. after editing bench/runs-notes.md).
if (args.has('report-only')) {
  writeRunsReport(reportPath, JSON.parse(readFileSync(dataPath, 'utf8')));
  process.exit(0);
}
const startedAt = Date.now();
const loadAtStart = os.loadavg();

function log(message) {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[runs ${seconds}s] ${message}\n`);
}

function rotate(list, by) {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

function percentile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A small seeded PRNG (mulberry32), so cut points are the same from run to run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether @ssekit/redis is built with run state (`redisStore(...).runs`). */
async function redisRunsAvailable() {
  if (!existsSync(new URL('../packages/redis/dist/index.js', import.meta.url)))
    return { ok: false, reason: '@ssekit/redis is not built (packages/redis/dist is missing)' };
  let redis;
  try {
    redis = await startRedis();
  } catch (error) {
    return { ok: false, reason: String(error?.message ?? error) };
  }
  try {
    const { redisStore } = await import('@ssekit/redis');
    const store = redisStore({ url: redis.url });
    const ok = !!store.runs;
    await store.close?.();
    return ok
      ? { ok: true }
      : { ok: false, reason: '@ssekit/redis keeps no run state yet (`redisStore(...).runs`)' };
  } catch (error) {
    return { ok: false, reason: `@ssekit/redis: ${error?.message ?? error}` };
  } finally {
    await redis.stop();
  }
}

const PROF_DIR = fileURLToPath(new URL('.out/prof/', import.meta.url));

/** A contender's processes for one session: a redis-server if it needs one, then `count` servers. */
async function startContender(def, count) {
  const redis = def.redis ? await startRedis() : undefined;
  const env = redis ? { REDIS_URL: redis.url, REDIS_PREFIX: `runs${Date.now()}:` } : {};
  const procs = [];
  try {
    for (let i = 0; i < count; i++)
      procs.push(
        await new ContenderProcess(
          { key: count > 1 ? `${def.key}#${i + 1}` : def.key, file: def.file },
          { env, ...(args.has('prof') ? { cpuProfDir: PROF_DIR } : {}) },
        ).start(),
      );
  } catch (error) {
    for (const proc of procs) await proc.stop();
    await redis?.stop();
    throw error;
  }
  return {
    redis,
    procs,
    async stop() {
      for (const proc of procs) await proc.stop();
      await redis?.stop();
    },
  };
}

/**
 * Starts `followers` spread over `staggerMs` and waits for all of them (bounded). Resolves the
 * followers that ended, and the errors of those that failed or never ended.
 */
async function runFollowers(followers, staggerMs, timeoutMs) {
  const errors = [];
  const all = followers.map(
    (f, i) =>
      new Promise((resolve) => {
        setTimeout(
          () => {
            f.run().then(resolve, (error) => {
              errors.push(`${f.o.key}: ${error?.message ?? error}`);
              resolve();
            });
          },
          (i * staggerMs) / followers.length,
        );
      }),
  );
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([Promise.all(all), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    const pending = followers.filter((f) => !f.done && !f.error);
    errors.push(`${pending.length} follower(s) still waiting after ${timeoutMs} ms`);
    for (const f of pending) f.req?.destroy();
  }
  return errors;
}

/** A few short runs first, so the JIT and the Redis scripts are warm (resumes too, if it can). */
async function warmUp(def, ports, tag) {
  const { runs, tokens, interval } = plan.warmup;
  const sinks = createSinks();
  const followers = [];
  for (let i = 0; i < runs; i++)
    followers.push(
      new RunFollower({
        port: ports[0],
        resumePort: ports[ports.length - 1],
        key: `warm-${tag}-${i}`,
        n: tokens,
        interval,
        resume: def.resume,
        cuts: def.resume === 'none' ? [] : [Math.floor(tokens / 2)],
        sinks,
      }),
    );
  const errors = await runFollowers(followers, 0, 30_000);
  const wrong = followers.flatMap((f) => f.verify());
  if (def.resume !== 'chars' && (errors.length > 0 || wrong.length > 0))
    throw new Error(`warm-up: ${[...errors, ...wrong].slice(0, 3).join('; ')}`);
}

/** Phase 1: the steady load, no cuts. */
async function steadySession(def, round) {
  const session = await startContender(def, 1);
  const [proc] = session.procs;
  try {
    await warmUp(def, [proc.port], `s${round}`);
    const base = await proc.stats({ gc: true });
    const redisBase = session.redis?.cpuMicros();
    const sinks = createSinks();
    const gc = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
    const skipTiming = (t) => t >= gc.from && t <= gc.to + GC_MARGIN_MICROS;
    const followers = [];
    for (let i = 0; i < plan.runs; i++)
      followers.push(
        new RunFollower({
          port: proc.port,
          key: `r${round}-${i}`,
          n: plan.tokens,
          interval: plan.interval,
          resume: def.resume,
          sinks,
          skipTiming,
        }),
      );
    const t0 = Date.now();
    const done = runFollowers(
      followers,
      plan.staggerMs,
      plan.staggerMs + plan.tokens * plan.interval + 30_000,
    );
    // Every run has started by then, none has finished.
    await sleep(Math.max(0, t0 + plan.staggerMs + (plan.tokens * plan.interval) / 2 - Date.now()));
    gc.from = nowMicros();
    const mid = await proc.stats({ gc: true });
    gc.to = nowMicros();
    const errors = await done;
    const end = await proc.stats();
    if (process.env.RUNS_DEBUG) {
      console.error(JSON.stringify(end));
      if (session.redis) {
        const { execFileSync } = await import('node:child_process');
        const info = execFileSync('redis-cli', ['-u', session.redis.url, 'INFO', 'commandstats']);
        console.error(
          String(info)
            .split('\n')
            .filter((l) => /calls=\d{3,}/.test(l))
            .join('\n'),
        );
      }
    }
    const redisEnd = session.redis?.cpuMicros();
    const wrong = followers.flatMap((f) => f.verify());
    const problems = [...errors, ...wrong];
    if (problems.length > 0 && def.key !== 'resumable-stream')
      throw new Error(`${problems.length} wrong: ${problems.slice(0, 5).join('; ')}`);
    const gcCpu = mid.cpuAfterGcMicros - mid.cpuMicros;
    const kTokens = sinks.tokens / 1000;
    return {
      tokens: sinks.tokens,
      wrong: problems.length,
      wrongExamples: problems.slice(0, 3),
      cpuPer1k: (end.cpuMicros - base.cpuAfterGcMicros - gcCpu) / 1000 / kTokens,
      redisCpuPer1k: session.redis ? (redisEnd - redisBase) / 1000 / kTokens : undefined,
      liveAtMid: mid.sourcesLive,
      heapPerRun: (mid.heapUsedBytes - base.heapUsedBytes) / Math.max(1, mid.sourcesLive),
      buffersPerRun:
        (mid.arrayBuffersBytes - base.arrayBuffersBytes) / Math.max(1, mid.sourcesLive),
      latencyP50: percentile(sinks.latency, 0.5) / 1000,
      latencyP99: percentile(sinks.latency, 0.99) / 1000,
      lagP50: percentile(sinks.lag, 0.5) / 1000,
      lagP99: percentile(sinks.lag, 0.99) / 1000,
      lagMax: percentile(sinks.lag, 1) / 1000,
      ttftP50: percentile(sinks.ttft, 0.5) / 1000,
      ttftP99: percentile(sinks.ttft, 0.99) / 1000,
      reachP50: percentile(sinks.reach, 0.5) / 1000,
      fromAppP50: percentile(sinks.fromApp, 0.5) / 1000,
      fromAppP99: percentile(sinks.fromApp, 0.99) / 1000,
      timedTokens: sinks.latency.length,
      variant: base.variant,
    };
  } finally {
    await session.stop();
  }
}

/** Phase 2: every follower is cut `plan.cuts` times at random tokens and resumes. */
async function resumeSession(def, round) {
  // Through Redis, the resume goes to another process, as behind a load balancer.
  const session = await startContender(def, def.redis ? 2 : 1);
  const ports = session.procs.map((p) => p.port);
  const resumePort = ports[ports.length - 1];
  const random = prng(0x5eed + round);
  try {
    await warmUp(def, ports, `c${round}`);
    const cpu = async (gc) =>
      (await Promise.all(session.procs.map((p) => p.stats({ gc })))).reduce(
        (sum, s) => sum + s.cpuAfterGcMicros,
        0,
      );
    const before = await cpu(true);
    const redisBefore = session.redis?.cpuMicros();
    const sinks = createSinks();
    const followers = [];
    for (let i = 0; i < plan.runs; i++) {
      const cuts = new Set();
      // Cut points leave at least two tokens to come, so the run is still live when it resumes.
      while (cuts.size < Math.min(plan.cuts, plan.tokens - 3))
        cuts.add(1 + Math.floor(random() * (plan.tokens - 3)));
      followers.push(
        new RunFollower({
          port: ports[0],
          resumePort,
          key: `c${round}-${i}`,
          n: plan.tokens,
          interval: plan.interval,
          resume: def.resume,
          cuts: [...cuts].sort((a, b) => a - b),
          sinks,
        }),
      );
    }
    const errors = await runFollowers(
      followers,
      plan.staggerMs,
      plan.staggerMs + plan.tokens * plan.interval + 30_000,
    );
    const after = await cpu(false);
    const redisAfter = session.redis?.cpuMicros();
    const wrongRuns = followers.filter((f) => f.error || f.verify().length > 0);
    // resumable-stream refuses a resume once the answer finished (422): the rest is lost.
    const refused = wrongRuns.filter((f) => f.refused !== undefined);
    const problems = [...errors, ...followers.flatMap((f) => f.verify())];
    if (problems.length > 0 && def.ours)
      throw new Error(`${problems.length} wrong: ${problems.slice(0, 5).join('; ')}`);
    // Late followers: a finished run, asked for its second half on the other process.
    const late = [];
    const half = Math.floor(plan.tokens / 2);
    for (const f of followers
      .filter((x) => x.done && x.ids.length === plan.tokens)
      .slice(0, plan.late)) {
      late.push(
        await lateFollow({
          port: resumePort,
          key: f.o.key,
          n: plan.tokens,
          resume: def.resume,
          lastEventId: f.ids[half - 1],
          resumeAt: f.charsAt[half - 1],
        }),
      );
    }
    if (def.ours && late.some((l) => !l.exact))
      throw new Error(`late followers: ${JSON.stringify(late)}`);
    const kTokens = sinks.tokens / 1000;
    return {
      processes: session.procs.length,
      runs: plan.runs,
      resumes: followers.reduce((sum, f) => sum + f.resumes, 0),
      exactRuns: plan.runs - wrongRuns.length,
      refusedRuns: refused.length,
      refusedStatuses: [...new Set(refused.map((f) => f.refused))],
      wrong: problems.length,
      wrongExamples: problems.slice(0, 3),
      resumeP50: percentile(sinks.resume, 0.5) / 1000,
      resumeP99: percentile(sinks.resume, 0.99) / 1000,
      cpuPer1k: (after - before) / 1000 / kTokens,
      redisCpuPer1k: session.redis ? (redisAfter - redisBefore) / 1000 / kTokens : undefined,
      late: {
        asked: late.length,
        exact: late.filter((l) => l.exact).length,
        statuses: [...new Set(late.map((l) => l.status))],
      },
    };
  } finally {
    await session.stop();
  }
}

function summarize(r) {
  const f = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
  if (r.resumes !== undefined)
    return `${r.exactRuns}/${r.runs} exact (${r.refusedRuns} resume(s) refused), ${r.resumes} resumes, resume p50 ${f(r.resumeP50)} ms p99 ${f(r.resumeP99)} ms, late followers ${r.late.exact}/${r.late.asked} exact (status ${r.late.statuses.join(',')})`;
  return `CPU ${f(r.cpuPer1k)} ms/1k tokens (redis-server ${f(r.redisCpuPer1k)}), heap ${f(r.heapPerRun / 1024, 1)} KB/run (${r.liveAtMid} live), latency p50 ${f(r.latencyP50)} p99 ${f(r.latencyP99)} ms, lag p99 ${f(r.lagP99)} ms, TTFT p50 ${f(r.ttftP50)} p99 ${f(r.ttftP99)} ms (from the app p50 ${f(r.fromAppP50)} p99 ${f(r.fromAppP99)})${r.wrong ? `, ${r.wrong} WRONG` : ''}`;
}

const only = args.get('only')?.split(',');
let contenders = CONTENDERS.filter((c) => !only || only.includes(c.key));
let redisNote;
if (!existsSync(REDIS_SERVER) && contenders.some((c) => c.redis)) {
  redisNote = `${REDIS_SERVER} is not installed`;
  contenders = contenders.filter((c) => !c.redis);
  log(`the Redis contenders: skipped: ${redisNote}`);
} else if (contenders.some((c) => c.key === 'redis')) {
  const available = await redisRunsAvailable();
  if (!available.ok) {
    redisNote = available.reason;
    contenders = contenders.filter((c) => c.key !== 'redis');
    log(`ssekit runs through Redis: skipped: ${available.reason}`);
  }
}

log(
  `${smoke ? 'smoke' : 'full'} run: ${contenders.map((c) => c.key).join(', ')}; ${plan.runs} runs x ${plan.tokens} tokens every ${plan.interval} ms, ${plan.rounds} round(s), ${plan.resumeRounds} resume round(s)`,
);

/** results.steady[key] / results.resume[key] = [per-round results] */
const results = { steady: {}, resume: {} };
const failures = [];
async function session(phase, fn, def, round, rounds) {
  const t0 = Date.now();
  try {
    const result = await fn(def, round);
    results[phase][def.key] = [...(results[phase][def.key] ?? []), result];
    log(
      `${phase} ${round + 1}/${rounds} ${def.key}: ${summarize(result)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );
  } catch (error) {
    failures.push({ phase, contender: def.key, error: String(error?.stack ?? error) });
    log(`${phase} ${round + 1}/${rounds} ${def.key}: FAILED ${error?.message ?? error}`);
  }
}

for (let r = 0; r < plan.rounds; r++)
  for (const def of rotate(contenders, r))
    await session('steady', steadySession, def, r, plan.rounds);
const resumable = contenders.filter((c) => c.resume !== 'none');
for (let r = 0; r < plan.resumeRounds; r++)
  for (const def of rotate(resumable, r))
    await session('resume', resumeSession, def, r, plan.resumeRounds);

const report = {
  smoke,
  date: new Date().toISOString(),
  plan,
  contenders: contenders.map(({ key, label, resume }) => ({ key, label, resume })),
  results,
  failures,
  redisNote,
  elapsedSeconds: (Date.now() - startedAt) / 1000,
  load: { start: loadAtStart, end: os.loadavg() },
};
writeFileSync(smoke ? `${outDir}/runs-smoke.json` : dataPath, JSON.stringify(report, null, 2));
const target = smoke ? `${outDir}/runs-smoke.md` : reportPath;
writeRunsReport(target, report);
log(`wrote ${target} in ${report.elapsedSeconds.toFixed(0)} s`);

if (failures.length > 0) {
  for (const f of failures)
    process.stderr.write(`\nFAILED ${f.phase} / ${f.contender}:\n${f.error}\n`);
  process.exit(1);
}
