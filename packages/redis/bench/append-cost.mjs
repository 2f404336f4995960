// What one append costs: appends/s through RedisStore (64 in flight) and Redis's own time per
// script call (INFO commandstats), against a fresh redis-server without persistence.
// Usage: node packages/redis/bench/append-cost.mjs [path to the package's dist/index.js] [runs]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

const dist = resolve(process.argv[2] ?? new URL('../dist/index.js', import.meta.url).pathname);
const runs = Number(process.argv[3] ?? 5);
const { redisStore } = await import(pathToFileURL(dist).href);
const port = 20_000 + Math.floor(Math.random() * 20_000);
const dir = await mkdtemp(join(tmpdir(), 'ssekit-bench-'));
const server = spawn(
  process.env.REDIS_SERVER ?? '/usr/bin/redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise((ok) => {
  let log = '';
  server.stdout.on('data', (c) => {
    log += c;
    if (log.includes('Ready to accept')) ok();
  });
});
const url = `redis://127.0.0.1:${port}`;
const admin = new Redis(url);
const store = redisStore({ url, prefix: 'bench:' });
const body = `data: ${'x'.repeat(100)}\n`;
const total = 20_000;
const inFlight = 64;
const results = [];
for (let run = 0; run < runs; run++) {
  await admin.call('CONFIG', 'RESETSTAT');
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        next++;
        await store.append(`c${next % 8}`, body, undefined);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = String(await admin.info('commandstats'));
  const usec = /cmdstat_evalsha:calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/.exec(stats);
  results.push({ perSecond: Math.round(total / seconds), usecPerCall: Number(usec?.[2]) });
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  JSON.stringify({
    dist,
    runs: results,
    medianPerSecond: median(results.map((r) => r.perSecond)),
    medianUsecPerCall: median(results.map((r) => r.usecPerCall)),
  }),
);
await store.close();
admin.disconnect();
server.kill('SIGKILL');
await rm(dir, { recursive: true, force: true });
