/**
 * What the runs bench's contenders share (bench/runs.mjs): the token source, the Express app with
 * GET /stats, and reporting the port to the driver. Each contender adds its own two routes:
 *
 * - `POST /chat?key=K&n=N&interval=MS`: starts generating N tokens, one every MS ms, and answers
 *   with the stream itself (the "POST answers with the stream" shape AI clients use);
 * - `GET /chat/:key`: resumes (Last-Event-ID for ssekit, `?resumeAt=<chars>` for resumable-stream).
 *
 * A token's data is `<text>|<index>|<scheduledMicros>|<yieldMicros>`: about 4 bytes of text (a
 * 3-letter word and a space) and the stamps the driver needs for latency (yield to receive) and
 * lag (schedule to receive), on CLOCK_MONOTONIC, which every process of this machine shares.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { run, sse } from '@ssekit/express';
import express from 'express';
import { APP_RECEIVED_HEADER, tokenText } from '../lib/runs-tokens.mjs';
import { nowMicros, reportReady } from './common.mjs';

/** The live sources, and how many finished their `finally` (runs must never leak a source). */
export const sources = { live: 0, finished: 0 };

/**
 * The model: `n` tokens on a fixed schedule from the moment it is called (token 0 at once,
 * token i at i * interval ms), each stamped. Stops early when `signal` aborts.
 */
export async function* tokens(key, n, intervalMs, signal) {
  const t0 = nowMicros();
  sources.live++;
  try {
    for (let i = 0; i < n; i++) {
      const scheduled = t0 + i * intervalMs * 1000;
      const wait = Math.round((scheduled - nowMicros()) / 1000);
      if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined);
      yield `${tokenText(key, i)}|${i}|${scheduled}|${nowMicros()}`;
    }
  } finally {
    sources.live--;
    sources.finished++;
  }
}

/** `POST /chat`'s parameters. */
export function chatParams(req) {
  const q = new URLSearchParams(req.url.split('?')[1] ?? '');
  const key = q.get('key');
  const n = Number(q.get('n') ?? 500);
  const interval = Number(q.get('interval') ?? 20);
  if (!key || !Number.isSafeInteger(n) || !(interval >= 0)) throw new RangeError('bad /chat query');
  return { key, n, interval };
}

/** An Express app with GET /stats; `extraStats()` adds the contender's own figures. */
export function createApp({ name, variant, extraStats }) {
  const app = express();
  // When the app got the POST (CLOCK_MONOTONIC), for the driver to split its time to first token
  // into the POST reaching the app and the app's answer reaching the client.
  app.post('/chat', (_req, res, next) => {
    res.setHeader(APP_RECEIVED_HEADER, String(nowMicros()));
    next();
  });
  app.get('/stats', (req, res) => {
    // CPU first, so the GC below isn't billed to the workload; then CPU again, to subtract it.
    const cpu = process.cpuUsage();
    const out = {
      name,
      variant,
      cpuMicros: cpu.user + cpu.system,
      sourcesLive: sources.live,
      sourcesFinished: sources.finished,
      ...(extraStats ? extraStats() : {}),
    };
    if (req.query.gc === '1' && typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    const after = process.cpuUsage();
    out.cpuAfterGcMicros = after.user + after.system;
    const mem = process.memoryUsage();
    out.heapUsedBytes = mem.heapUsed;
    out.rssBytes = mem.rss;
    // (external already counts arrayBuffers.)
    out.externalBytes = mem.external;
    out.arrayBuffersBytes = mem.arrayBuffers;
    res.json(out);
  });
  return app;
}

/** Listens on a free loopback port and tells the driver (errors last, after the routes). */
/** ssekit's two routes on `hub`: POST /chat answers with a run's stream, GET /chat/:key resumes it. */
export function runRoutes(app, hub) {
  app.use(sse({ hub }));
  app.post('/chat', (req, res) => {
    const { key, n, interval } = chatParams(req);
    void res.sse.startRun((signal) => tokens(key, n, interval, signal), { key });
  });
  app.get(
    '/chat/:key',
    run((req) => req.params.key),
  );
}

export function listen(app) {
  app.use((error, _req, res, _next) => {
    const status = Number(error?.status ?? error?.statusCode ?? 500);
    if (status >= 500) process.stderr.write(`${error?.stack ?? error}\n`);
    if (!res.headersSent) res.status(status).end();
    else res.destroy();
  });
  const server = app.listen(0, '127.0.0.1', () => reportReady(server.address().port));
  // The driver's control connection is kept alive between /stats calls seconds apart: past
  // Node's 5 s default, the server could close it just as a request is sent (ECONNRESET).
  server.keepAliveTimeout = 600_000;
}
