/** Turns the driver's results into RESULTS.md: machine, versions, parameters, tables with ratios. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('..', import.meta.url));

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function versionOf(name) {
  try {
    const file = fileURLToPath(
      import.meta.resolve(`${name}/package.json`, `file://${benchDir}run.mjs`),
    );
    return JSON.parse(readFileSync(file, 'utf8')).version;
  } catch {
    try {
      return JSON.parse(readFileSync(`${benchDir}node_modules/${name}/package.json`, 'utf8'))
        .version;
    } catch {
      return 'n/a';
    }
  }
}

const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const fixed = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const ratio = (v, base) =>
  Number.isFinite(v) && Number.isFinite(base) && base !== 0 ? `${(v / base).toFixed(2)}x` : 'n/a';
const kb = (bytes) => (Number.isFinite(bytes) ? (bytes / 1024).toFixed(2) : 'n/a');
const mb = (bytes) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(0) : 'n/a');

function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Median of one field across rounds, per contender. */
function med(results, scenario, key, field) {
  return median((results[scenario]?.[key] ?? []).map((r) => r[field]));
}

function spread(results, scenario, key, field, format) {
  const values = (results[scenario]?.[key] ?? []).map((r) => r[field]).filter(Number.isFinite);
  if (values.length < 2) return '';
  return ` (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

/** A contender's median of `field` and its ratio to raw's, as two table cells. */
function withRatio(results, scenario, key, field, format) {
  const value = med(results, scenario, key, field);
  return [format(value), ratio(value, med(results, scenario, 'raw', field))];
}

function fanoutTable(report, scenario) {
  const { results, contenders } = report;
  const thousands = (v) => `${Math.round(v / 1000)}k`;
  const rows = contenders
    .filter((c) => results[scenario]?.[c.key])
    .map((c) => {
      const rateAndRange = (rate) =>
        int(rate) + spread(results, scenario, c.key, 'rate', thousands);
      return [
        c.label,
        ...withRatio(results, scenario, c.key, 'rate', rateAndRange),
        ...withRatio(results, scenario, c.key, 'cpuPer1k', fixed),
      ];
    });
  return table(
    ['contender', 'deliveries/s (range)', 'x raw', 'CPU ms per 1k deliveries', 'x raw'],
    rows,
  );
}

function memoryTable(report) {
  const { results, contenders } = report;
  const rows = contenders
    .filter((c) => results.fan10k?.[c.key])
    .map((c) => [
      c.label,
      ...withRatio(results, 'fan10k', c.key, 'heapPerConn', kb),
      ...withRatio(results, 'fan10k', c.key, 'rssPerConn', kb),
    ]);
  return table(
    ['contender', 'heap KB per idle connection', 'x raw', 'RSS KB per idle connection', 'x raw'],
    rows,
  );
}

/** Heap per idle connection that @ssekit/express adds over a bare Express route doing the same. */
function expressShare(results) {
  const heap = (key) => med(results, 'fan10k', key, 'heapPerConn');
  return heap('ssekit-express') - heap('raw-express-coalesce');
}

function expressShareLine(report) {
  const { results } = report;
  const heap = (key) => med(results, 'fan10k', key, 'heapPerConn');
  const share = expressShare(results);
  if (!Number.isFinite(share))
    return "The Express adapter's share over bare Express: not measured in this run.";
  const core = heap('ssekit-core') - heap('raw-coalesce');
  const coreNote = Number.isFinite(core)
    ? ` Of that, core's stream, hub subscription and tracking cost ${kb(core)} KB on plain \`node:http\` (@ssekit/core minus the coalescing raw server), so about ${kb(share - core)} KB is the adapter's own.`
    : '';
  return (
    `The Express adapter's share: **${kb(share)} KB** of heap per idle connection ` +
    `(@ssekit/express ${kb(heap('ssekit-express'))} KB minus ${kb(heap('raw-express-coalesce'))} KB ` +
    'for a bare Express 5 route doing the same per-tick coalescing by hand; issue 14 targets <= 0.50 KB).' +
    coreNote +
    " The bare route's own heap is Express's per-request cost, which no SSE layer can remove."
  );
}

function latencyTable(report, scenario = 'fan1k', labels) {
  const { results } = report;
  const ms = (v) => fixed(v, 3);
  const rows = (labels ?? report.contenders)
    .filter((c) => results[scenario]?.[c.key])
    .map((c) => [
      c.label,
      ...withRatio(results, scenario, c.key, 'p50Ms', ms),
      ...withRatio(results, scenario, c.key, 'p99Ms', ms),
      fixed(med(results, scenario, c.key, 'maxMs'), 1),
      fixed(med(results, scenario, c.key, 'latencyCpuPer1k')),
    ]);
  return table(
    ['contender', 'p50 ms', 'x raw', 'p99 ms', 'x raw', 'max ms', 'CPU ms per 1k deliveries'],
    rows,
  );
}

function stormTable(report) {
  const { results, contenders } = report;
  const rows = contenders
    .filter((c) => results.storm?.[c.key])
    .map((c) => [
      c.label,
      fixed(med(results, 'storm', c.key, 'seconds'), 3),
      int(med(results, 'storm', c.key, 'cpuMs')),
    ]);
  return table(['contender', 'seconds until all caught up', 'server CPU ms'], rows);
}

function slowTable(report) {
  const { results, contenders } = report;
  const rows = contenders
    .filter((c) => results.slow?.[c.key])
    .map((c) => {
      const change = med(results, 'slow', c.key, 'change');
      return [
        c.label,
        int(med(results, 'slow', c.key, 'baseline')),
        int(med(results, 'slow', c.key, 'withSlow')),
        Number.isFinite(change) ? `${(change * 100).toFixed(1)}%` : 'n/a',
        mb(med(results, 'slow', c.key, 'peakRssBefore')),
        mb(med(results, 'slow', c.key, 'peakRss')),
        String(med(results, 'slow', c.key, 'slowStillOpen')),
      ];
    });
  return table(
    [
      'contender',
      'healthy deliveries/s alone',
      'with slow clients',
      'change',
      'peak RSS MB before',
      'peak RSS MB after',
      'slow clients still open',
    ],
    rows,
  );
}

function redisTable(report) {
  const { results } = report;
  const rows = [];
  for (const [key, label] of [
    ['ssekit-express', '@ssekit/express, in-memory hub, 1 process'],
    ['ssekit-redis', '@ssekit/redis, 3 processes'],
  ]) {
    const scenario = key === 'ssekit-redis' ? 'redis' : 'fan1k';
    if (!results[scenario]?.[key]) continue;
    rows.push([
      label,
      int(med(results, scenario, key, 'rate')),
      fixed(med(results, scenario, key, 'cpuPer1k')),
      fixed(med(results, scenario, key, 'p50Ms'), 3),
      fixed(med(results, scenario, key, 'p99Ms'), 3),
    ]);
  }
  return table(
    ['setup', 'deliveries/s', 'CPU ms per 1k (all processes)', 'p50 ms', 'p99 ms'],
    rows,
  );
}

/** The issue's targets for ssekit, checked against this run's ratios. */
function targetsTable(report) {
  const { results } = report;
  const vsRaw = (s, key, f) => med(results, s, key, f) / med(results, s, 'raw', f);
  const atLeast = (limit) => (v) => v >= limit;
  const atMost = (limit) => (v) => v <= limit;
  const times = (v) => `${v.toFixed(2)}x`;
  const percent = (v) => `${(v * 100).toFixed(1)}%`;
  const rows = [];
  for (const key of ['ssekit-express', 'ssekit-fastify']) {
    // A value this run could not measure (or divide by) is neither met nor missed.
    const check = (name, goal, value, meets, format = times) => {
      const known = Number.isFinite(value);
      const verdict = !known ? 'n/a' : meets(value) ? 'met' : '**missed**';
      rows.push([key, name, goal, known ? format(value) : 'n/a', verdict]);
    };
    for (const s of ['fan1k', 'fan10k']) {
      const n = s === 'fan1k' ? 'N=1k' : 'N=10k';
      check(`burst throughput ${n}`, '>= 3x raw', vsRaw(s, key, 'rate'), atLeast(3));
      check(`CPU per 1k deliveries ${n}`, '<= 0.3x raw', vsRaw(s, key, 'cpuPer1k'), atMost(0.3));
    }
    check('p99 latency, 1 event / 10 ms', '<= 1.1x raw', vsRaw('fan1k', key, 'p99Ms'), atMost(1.1));
    const heap = vsRaw('fan10k', key, 'heapPerConn');
    check('heap per idle connection', '<= 1.2x raw', heap, atMost(1.2));
    if (key === 'ssekit-express') {
      const kbShare = (v) => `${(v / 1024).toFixed(2)} KB`;
      const share = expressShare(results);
      check(
        'heap per idle connection over bare Express (issue 14)',
        '<= 0.5 KB',
        share,
        atMost(512),
        kbShare,
      );
    }
    const change = med(results, 'slow', key, 'change');
    check('healthy throughput with slow consumers', '>= -10%', change, atLeast(-0.1), percent);
  }
  return table(['adapter', 'target', 'goal', 'this run', ''], rows);
}

function variants(report) {
  const seen = new Map();
  for (const byKey of Object.values(report.results)) {
    for (const [key, runs] of Object.entries(byKey))
      for (const r of runs) if (r.variant) seen.set(key, r.variant);
  }
  return report.contenders
    .filter((c) => seen.has(c.key))
    .map((c) => `- **${c.label}**: ${seen.get(c.key)}`)
    .concat(seen.has('ssekit-redis') ? [`- **@ssekit/redis**: ${seen.get('ssekit-redis')}`] : [])
    .join('\n');
}

export function writeReport(path, report) {
  const { plan } = report;
  const cpus = os.cpus();
  const lines = [];
  const ssekit = ['@ssekit/core', '@ssekit/express', '@ssekit/fastify', '@ssekit/redis'];
  const peers = ['better-sse', '@fastify/sse', 'fastify-sse-v2', 'fastify', 'express'];
  lines.push(
    '# ssekit benchmarks',
    '',
    `Generated by \`pnpm bench${report.smoke ? ' --smoke' : ''}\` on ${(report.date ?? new Date().toISOString()).slice(0, 10)} in ${Math.round(report.elapsedSeconds)} s.` +
      ' Every figure is the median over interleaved rounds, each round with a fresh server process per contender;' +
      ' ratios are to the naive raw `node:http` server measured in the same run.',
    '',
    '## Machine',
    '',
    `- CPU: ${cpus[0]?.model ?? 'unknown'}, ${cpus.length} cores (${os.availableParallelism?.() ?? cpus.length} available)`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node ${process.version}; servers run with \`--expose-gc\``,
    `- Load average (1 min) at start ${report.load?.start[0].toFixed(2) ?? 'n/a'}, at end ${report.load?.end[0].toFixed(2) ?? 'n/a'}: anything above ~2 means other work shared the 2 cores and the figures are noisier.`,
    '',
    '## Versions',
    '',
    `- ssekit: ${ssekit.map((n) => `${n} ${versionOf(n)}`).join(', ')} (workspace builds)`,
    `- peers (pinned exactly): ${peers.map((n) => `${n} ${versionOf(n)}`).join(', ')}`,
    '',
    'What each contender runs:',
    '',
    variants(report),
    '',
    '## Parameters',
    '',
    `- Rounds: ${Object.entries(plan.rounds)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}; the contender order rotates each round, and each contender gets a fresh server process per scenario and round.`,
    `- Fan-out: N = ${plan.fan1k.n.toLocaleString('en-US')} and N = ${plan.fan10k.n.toLocaleString('en-US')} connections, bursts of K = ${plan.fan1k.k} events of P = ${plan.fan1k.p} bytes published back to back in one tick. One unmeasured warm-up burst (K = ${plan.fan1k.warmupK} / ${plan.fan10k.warmupK}), then ${plan.fan1k.bursts} measured burst(s) at N = ${plan.fan1k.n.toLocaleString('en-US')} and ${plan.fan10k.bursts} at N = ${plan.fan10k.n.toLocaleString('en-US')}. Throughput = N x K / (time from the publish request until the last client has its last event). CPU = server \`process.cpuUsage()\` over the same span.`,
    `- Memory: heap and RSS after \`global.gc()\` with ${plan.fan10k.n.toLocaleString('en-US')} idle subscribed connections, minus the same before any connection, divided by N.`,
    `- Latency: N = ${plan.fan1k.n.toLocaleString('en-US')}, ${plan.fan1k.latency.count} single events, one every ${plan.fan1k.latency.interval} ms. The server writes a CLOCK_MONOTONIC timestamp (µs) into each payload; the driver reads the same clock on arrival.`,
    `- Reconnect storm: N = ${plan.storm.n.toLocaleString('en-US')} clients receive ${plan.storm.history} events, disconnect, then all reconnect at once with the Last-Event-ID of the event ${plan.storm.back} before the end.`,
    `- Slow consumers: ${plan.slow.n.toLocaleString('en-US')} reading clients take bursts of ${plan.slow.k} events of ${plan.slow.p.toLocaleString('en-US')} bytes: ${plan.slow.baselineBursts} alone, ${plan.slow.bursts} with ${plan.slow.slow} more clients connected that never read (${((plan.slow.k * plan.slow.bursts * plan.slow.p) / 2 ** 20).toFixed(1)} MiB sent towards each), then ${plan.slow.baselineBursts} alone again after those left. "Alone" is the mean of both alone phases. Large events, because the kernel absorbs about 4 MiB per stalled loopback socket before the server sees any backpressure.`,
    '- Client: one driver process with a raw `node:net` HTTP/1.1 client per connection that counts events and checks the last seq of every client after every scenario; a wrong count fails the run.',
    '',
    '## Fan-out throughput, N = 1,000',
    '',
    fanoutTable(report, 'fan1k'),
    '',
    '## Fan-out throughput, N = 10,000',
    '',
    fanoutTable(report, 'fan10k'),
    '',
    `## Memory per idle connection, N = ${plan.fan10k.n.toLocaleString('en-US')}`,
    '',
    memoryTable(report),
    '',
    expressShareLine(report),
    '',
    '## Latency, publish to receive, N = 1,000, one event every 10 ms',
    '',
    latencyTable(report),
    '',
    '## Reconnect storm',
    '',
    'Only contenders that can resume from Last-Event-ID at all: ssekit (built in) and @fastify/sse (its `reply.sse.replay()` hook with an app-kept history, as its README shows). better-sse, fastify-sse-v2 and the raw servers keep no history.',
    '',
    stormTable(report),
    '',
    '## Slow consumers',
    '',
    slowTable(report),
    '',
    '## Through Redis (issue 8)',
    '',
  );
  if (report.results.redis) {
    lines.push(
      `Three hub processes share one \`redis-server\` (started by the bench on a loopback port, no persistence). The ${plan.redis.n.toLocaleString('en-US')} clients are spread evenly over the three processes; events are published on one of them. CPU counts all three processes (Redis itself excluded).`,
      '',
      redisTable(report),
    );
  } else {
    lines.push(`Not measured in this run: ${report.redisNote ?? 'scenario not selected'}.`);
  }
  lines.push('', '## ssekit targets (issue 9)', '', targetsTable(report), '');
  if (report.failures.length > 0) {
    lines.push('## Failures in this run', '');
    for (const f of report.failures)
      lines.push(`- ${f.scenario} / ${f.contender}: \`${f.error.split('\n')[0]}\``);
    lines.push('');
  }
  const notes = `${benchDir}notes.md`;
  if (existsSync(notes) && !report.smoke) lines.push(readFileSync(notes, 'utf8').trim(), '');
  writeFileSync(path, lines.join('\n'));
}
