#!/usr/bin/env node
/**
 * Heap per idle subscribed connection, the figure the bench's memory table reports, measured
 * alone and quickly: `node bench/idle-heap.mjs [--only=key,key] [--n=5000] [--rounds=3]
 * [--snapshot]`. Per round and contender: a fresh server process, `global.gc()`, N clients,
 * `global.gc()` again; (heap after - heap before) / N. Prints the median per contender and, when
 * both ran, @ssekit/express's own share (its heap minus bare Express's doing the same coalescing).
 * `--snapshot` also writes a heap snapshot of each server with its clients connected into
 * bench/.out/heap/, to compare object counts and sizes in DevTools (Memory > Comparison).
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONTENDERS } from './contenders.mjs';
import { ClientGroup } from './lib/client-group.mjs';
import { ContenderProcess } from './lib/contender-process.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const n = Number(args.get('n') ?? 5000);
const rounds = Number(args.get('rounds') ?? 3);
const keys = (args.get('only') ?? 'raw-express-coalesce,ssekit-express').split(',');
const snapshotDir = fileURLToPath(new URL('.out/heap/', import.meta.url));
const snapshot = args.has('snapshot');
if (snapshot) mkdirSync(snapshotDir, { recursive: true });

const defs = keys.map((key) => {
  const def = CONTENDERS.find((c) => c.key === key);
  if (!def) throw new Error(`unknown contender ${key}`);
  return def;
});

async function writeSnapshot(proc, key) {
  const before = new Set(readdirSync(snapshotDir));
  proc.child.kill('SIGUSR2');
  // Node writes Heap.<date>.<pid>...heapsnapshot; wait until a new one stops growing.
  for (let last = -1; ; ) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const file = readdirSync(snapshotDir).find((f) => !before.has(f));
    if (!file) continue;
    const size = statSync(snapshotDir + file).size;
    if (size > 0 && size === last) return `${snapshotDir}${file} (${key})`;
    last = size;
  }
}

async function measure(def) {
  const env = snapshot
    ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}` }
    : {};
  const proc = await new ContenderProcess(def, { env }).start();
  const group = new ClientGroup(proc.port);
  try {
    const base = await proc.stats({ gc: true });
    await group.open(n);
    await proc.waitForClients(n);
    const idle = await proc.stats({ gc: true });
    if (snapshot) console.log(`  snapshot: ${await writeSnapshot(proc, def.key)}`);
    return (idle.heapUsedBytes - base.heapUsedBytes) / n;
  } finally {
    group.close();
    await proc.stop();
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const kb = (bytes) => (bytes / 1024).toFixed(2);

const perConn = new Map(defs.map((d) => [d.key, []]));
for (let r = 0; r < rounds; r++) {
  for (const def of r % 2 ? [...defs].reverse() : defs) {
    const bytes = await measure(def);
    perConn.get(def.key).push(bytes);
    console.log(`round ${r + 1}/${rounds} ${def.key}: ${kb(bytes)} KB/conn`);
  }
}
console.log(`\nheap per idle connection, N = ${n}, median of ${rounds}:`);
for (const [key, values] of perConn) console.log(`  ${key}: ${kb(median(values))} KB`);
if (perConn.has('ssekit-express') && perConn.has('raw-express-coalesce')) {
  const share = median(perConn.get('ssekit-express')) - median(perConn.get('raw-express-coalesce'));
  console.log(`  @ssekit/express own share: ${kb(share)} KB (target <= 0.50)`);
}
