#!/usr/bin/env node
/**
 * The bench driver. `pnpm bench` runs every scenario over several interleaved rounds and writes
 * bench/RESULTS.md; `pnpm bench --smoke` runs a tiny version of everything and exits non-zero if
 * any contender delivers a wrong count (it writes only to bench/.out/).
 *
 * Options: --smoke, --rounds=N (fan-out at 1k, storm, Redis; N-2 at 10k; 1 for slow consumers), --only=key,key, --scenarios=fan1k,fan10k,storm,slow,redis,
 * --prof (CPU profiles of the contenders into bench/.out/prof), --out=path,
 * --report-only (rewrite RESULTS.md from bench/.out/results.json, e.g. after editing notes.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { CONTENDERS } from './contenders.mjs';
import { writeReport } from './lib/report.mjs';
import { fanoutSession, slowSession, stormSession } from './lib/scenarios.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const smoke = args.has('smoke');
const NEEDED_FDS = 25_000;

// 10,000 connections need more descriptors than the usual 1,024: re-exec through a shell that
// raises the soft limit (as far as the hard limit allows). The smoke run doesn't need it.
if (!smoke && !args.has('report-only') && !process.env.SSEKIT_BENCH_ULIMIT) {
  const script = `ulimit -n ${NEEDED_FDS} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  const result = spawnSync(
    'bash',
    ['-c', script, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, SSEKIT_BENCH_ULIMIT: '1' },
    },
  );
  process.exit(result.status ?? 1);
}

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = `${here}.out`;
mkdirSync(outDir, { recursive: true });

// Re-renders RESULTS.md from the last full run's data (e.g. after editing bench/notes.md).
if (args.has('report-only')) {
  const saved = JSON.parse(readFileSync(`${outDir}/results.json`, 'utf8'));
  writeReport(args.get('out') ?? `${here}RESULTS.md`, saved);
  process.exit(0);
}

const rounds = Number(args.get('rounds') ?? 3);
// Redis runs the same workload as fan-out at 1k: the report sets its rows beside those.
const smokeFanout = {
  n: 20,
  k: 10,
  p: 100,
  warmupK: 5,
  bursts: 1,
  latency: { count: 10, interval: 10 },
};
const fullFanout = {
  n: 1000,
  k: 200,
  p: 100,
  warmupK: 50,
  bursts: 2,
  latency: { count: 200, interval: 10 },
};
const plan = smoke
  ? {
      rounds: { fan1k: 1, fan10k: 1, storm: 1, slow: 1, redis: 1 },
      fan1k: smokeFanout,
      fan10k: { n: 20, k: 10, p: 100, warmupK: 5, bursts: 1, memory: true },
      storm: { n: 20, p: 100, history: 20, back: 10 },
      slow: { n: 20, slow: 2, k: 10, warmupK: 5, p: 100, baselineBursts: 1, bursts: 1 },
      redis: smokeFanout,
    }
  : {
      // Tuned so the default run stays under 10 minutes on 2 cores: the slow peers dominate.
      rounds: {
        fan1k: rounds,
        fan10k: Math.max(1, rounds - 2),
        storm: rounds,
        slow: 1,
        redis: rounds,
      },
      fan1k: fullFanout,
      fan10k: { n: 10_000, k: 200, p: 100, warmupK: 20, bursts: 1, memory: true },
      storm: { n: 1000, p: 100, history: 200, back: 100 },
      slow: { n: 1000, slow: 10, k: 50, warmupK: 10, p: 16_384, baselineBursts: 2, bursts: 7 },
      redis: fullFanout,
    };

const only = args.get('only')?.split(',');
const contenders = CONTENDERS.filter((c) => !only || only.includes(c.key));
const scenarios = (args.get('scenarios') ?? 'fan1k,fan10k,storm,slow,redis').split(',');
const ctx = args.has('prof') ? { cpuProfDir: `${outDir}/prof` } : {};

/** results[scenario][contenderKey] = [per-round result objects] */
const results = {};
const failures = [];
const startedAt = Date.now();
const loadAtStart = os.loadavg();

function rotate(list, by) {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

function log(message) {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${seconds}s] ${message}\n`);
}

async function runRounds(name, rounds, eligible, session, params) {
  results[name] ??= {};
  for (let r = 0; r < rounds; r++) {
    for (const def of rotate(eligible, r)) {
      const t0 = Date.now();
      try {
        const result = await session(def, params, ctx);
        results[name][def.key] = [...(results[name][def.key] ?? []), result];
        log(
          `${name} round ${r + 1}/${rounds} ${def.key}: ${summarize(result)} (${((Date.now() - t0) / 1000).toFixed(1)}s)`,
        );
      } catch (error) {
        failures.push({ scenario: name, contender: def.key, error: String(error?.stack ?? error) });
        log(`${name} round ${r + 1}/${rounds} ${def.key}: FAILED ${error?.message ?? error}`);
      }
    }
  }
}

function summarize(r) {
  const parts = [];
  if (r.rate !== undefined)
    parts.push(
      `${Math.round(r.rate).toLocaleString('en-US')} deliveries/s`,
      `${r.cpuPer1k.toFixed(2)} CPU ms/1k`,
    );
  if (r.heapPerConn !== undefined) parts.push(`heap ${(r.heapPerConn / 1024).toFixed(1)} KB/conn`);
  if (r.p50Ms !== undefined)
    parts.push(`p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms`);
  if (r.seconds !== undefined)
    parts.push(`caught up in ${r.seconds.toFixed(2)} s, CPU ${r.cpuMs.toFixed(0)} ms`);
  if (r.withSlow !== undefined)
    parts.push(
      `healthy ${Math.round(r.baseline)} -> ${Math.round(r.withSlow)} deliveries/s, peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MB`,
    );
  if (r.processes !== undefined) parts.push(`${r.processes} processes`);
  return parts.join(', ');
}

log(
  `${smoke ? 'smoke' : 'full'} run: ${contenders.map((c) => c.key).join(', ')}; scenarios ${scenarios.join(', ')}`,
);
if (scenarios.includes('fan1k'))
  await runRounds('fan1k', plan.rounds.fan1k, contenders, fanoutSession, plan.fan1k);
if (scenarios.includes('fan10k'))
  await runRounds('fan10k', plan.rounds.fan10k, contenders, fanoutSession, plan.fan10k);
if (scenarios.includes('storm')) {
  await runRounds(
    'storm',
    plan.rounds.storm,
    contenders.filter((c) => c.storm),
    stormSession,
    plan.storm,
  );
}
if (scenarios.includes('slow'))
  await runRounds('slow', plan.rounds.slow, contenders, slowSession, plan.slow);
let redisNote;
if (scenarios.includes('redis') && (!only || only.includes('ssekit-redis'))) {
  const { redisSession, redisAvailable } = await import('./lib/redis.mjs');
  const available = await redisAvailable();
  if (available.ok) {
    await runRounds(
      'redis',
      plan.rounds.redis,
      [{ key: 'ssekit-redis', label: '@ssekit/redis, 3 processes' }],
      redisSession,
      plan.redis,
    );
  } else {
    redisNote = available.reason;
    log(`redis: skipped: ${available.reason}`);
  }
}

const elapsedSeconds = (Date.now() - startedAt) / 1000;
const load = { start: loadAtStart, end: os.loadavg() };
const date = new Date().toISOString();
const report = {
  smoke,
  date,
  plan,
  contenders,
  results,
  failures,
  redisNote,
  elapsedSeconds,
  load,
};
writeFileSync(`${outDir}/${smoke ? 'smoke' : 'results'}.json`, JSON.stringify(report, null, 2));
const target = smoke ? `${outDir}/smoke.md` : (args.get('out') ?? `${here}RESULTS.md`);
writeReport(target, report);
log(`wrote ${target} in ${elapsedSeconds.toFixed(0)} s`);

if (failures.length > 0) {
  for (const f of failures)
    process.stderr.write(`\nFAILED ${f.scenario} / ${f.contender}:\n${f.error}\n`);
  process.exit(1);
}
