/**
 * Issue 13's Redis publish row: how fast one process publishes through the Redis store, beside
 * what the same redis-server does with plain XADD from redis-benchmark at the same concurrency.
 *
 *   node bench/redis-publish.mjs            (needs `pnpm build`: it imports the built packages)
 *
 * Starts its own redis-server (no persistence, temp dir, free loopback port) and stops it after.
 * Four scenarios, interleaved, three rounds; the table shows each one's median:
 *   - XADD, redis-benchmark -c 1 -P 1      one command at a time
 *   - hub.publish awaited one by one       the same concurrency through ssekit
 *   - XADD, redis-benchmark -c 50 -P 1     50 connections, one command each in flight
 *   - hub.publish, 50 in flight            50 publishers on one process (one store)
 * Env: ROUND_MS (default 1500) is how long each ssekit measurement runs; the benchmark's request
 * counts are sized to take about as long. The whole run stays under a minute.
 */
import { spawn } from 'node:child_process';
import { createHub } from '@ssekit/core';
import { redisStore } from '@ssekit/redis';
import { startRedis } from './lib/redis-server.mjs';

const REDIS_BENCHMARK = process.env.REDIS_BENCHMARK ?? '/usr/bin/redis-benchmark';
const ROUNDS = 3;
const ROUND_MS = Number(process.env.ROUND_MS ?? 1500);
const CHANNELS = 8;
// A token-sized event, and an XADD of the same size (the stored body is `data: <json>\n`).
const DATA = { token: 'x'.repeat(64), index: 12345 };
// (A space, not the newline, ends the XADD body: redis-benchmark's CSV would break on it.)
const XADD_BODY = `data: ${JSON.stringify(DATA)} `;
const HARD_LIMIT_MS = 58_000;

const hardStop = setTimeout(() => {
  console.error('redis-publish: took longer than a minute, giving up');
  process.exit(1);
}, HARD_LIMIT_MS);
hardStop.unref();

/** redis-benchmark's XADD rate (requests/s) at `clients` connections, no pipelining. */
function xadd(port, clients, requests) {
  return new Promise((resolve, reject) => {
    const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(clients), '-P', '1'];
    args.push('-n', String(requests), '--csv', 'XADD', 'bench:xadd', '*', 'b', XADD_BODY);
    const child = spawn(REDIS_BENCHMARK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('exit', () => {
      // "test","rps","avg_latency_ms",... then the command's row.
      const rps = Number(/"XADD[^\n]*?","([\d.]+)","[\d.]+"/.exec(out)?.[1]);
      if (Number.isFinite(rps)) resolve(rps);
      else reject(new Error(`redis-benchmark gave no rate:\n${out}`));
    });
  });
}

/** hub.publish rate (events/s) with `inFlight` publishers, for about ROUND_MS. */
async function publish(hub, inFlight) {
  let count = 0;
  const deadline = performance.now() + ROUND_MS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      let i = worker;
      while (performance.now() < deadline) {
        await hub.publish(`c${i++ % CHANNELS}`, DATA);
        count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const redis = await startRedis('redis-publish');
const store = redisStore({ url: redis.url, prefix: 'bench:' });
const hub = createHub({ store });
try {
  await hub.publish('c0', DATA); // connect, load the script, learn the server's durability
  const rates = { xadd1: [], ssekit1: [], xadd50: [], ssekit50: [] };
  // Request counts sized from a first short measurement, so each run takes about ROUND_MS.
  const probe1 = await xadd(redis.port, 1, 2000);
  const probe50 = await xadd(redis.port, 50, 10_000);
  const n1 = Math.max(2000, Math.round((probe1 * ROUND_MS) / 1000));
  const n50 = Math.max(10_000, Math.round((probe50 * ROUND_MS) / 1000));
  for (let round = 0; round < ROUNDS; round++) {
    rates.xadd1.push(await xadd(redis.port, 1, n1));
    rates.ssekit1.push(await publish(hub, 1));
    rates.xadd50.push(await xadd(redis.port, 50, n50));
    rates.ssekit50.push(await publish(hub, 50));
    await store.ready();
  }
  const row = (label, ssekit, raw) =>
    `| ${label} | ${fmt(median(ssekit))} | ${fmt(median(raw))} | ${(median(ssekit) / median(raw)).toFixed(2)}x |`;
  console.log(`Redis publish, one process, median of ${ROUNDS} interleaved rounds`);
  console.log(
    `(redis-server on 127.0.0.1:${redis.port}, ${CHANNELS} channels, ~${XADD_BODY.length} B events)\n`,
  );
  console.log('| concurrency | hub.publish/s | XADD/s (redis-benchmark) | ratio |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(row('1 (awaited one by one)', rates.ssekit1, rates.xadd1));
  console.log(row('50 in flight', rates.ssekit50, rates.xadd50));
  console.log(
    `\nrounds: ${Object.entries(rates)
      .map(([name, xs]) => `${name} ${xs.map(fmt).join(' / ')}`)
      .join('; ')}`,
  );
} finally {
  await hub.close().catch(() => {});
  await store.close().catch(() => {});
  await redis.stop();
}
