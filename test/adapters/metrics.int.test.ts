/**
 * The metrics example (examples/metrics), in both flavours: Prometheus scrapes `/metrics` after a
 * known sequence (N opens, M closes, K events, G gaps, a refusal) and reads exactly those numbers;
 * `/healthz` answers 200, then 503 while the hub drains.
 */
import { fileURLToPath } from 'node:url';
import { createHub, type Hub } from '@ssekit/core';
import { cleanupAfterEach, listen, waitUntil, watch } from '@ssekit/test-support';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';

interface Metrics {
  handler: (req: unknown, res: unknown) => void;
  shutdown(): Promise<void>;
}
type Handler = (req: unknown, res: unknown) => void;

const example = async <T>(file: string): Promise<T> =>
  (await import(fileURLToPath(new URL(`../../examples/metrics/${file}`, import.meta.url)))) as T;

const cleanups = cleanupAfterEach();

/** Starts the example app with its SDK registered first; returns its base URL and the hub. */
type Start = () => Promise<{ url: string; hub: Hub }>;

async function sdkThenHub(): Promise<{ metrics: Metrics; hub: Hub }> {
  const { startMetrics } = await example<{ startMetrics: () => Metrics }>('otel.mjs');
  const metrics = startMetrics();
  cleanups.push(() => metrics.shutdown());
  // Created after the SDK: the hub takes the global meter.
  const hub = createHub({ replay: { maxEvents: 1000 } });
  cleanups.push(() => hub.close());
  return { metrics, hub };
}

const onExpress: Start = async () => {
  const { metrics, hub } = await sdkThenHub();
  const { createMetricsApp } = await example<{
    createMetricsApp: (o: object) => { app: Handler; events: { close(): Promise<void> } };
  }>('express.mjs');
  const { app } = createMetricsApp({ hub, metrics: metrics.handler, stream: { heartbeat: false } });
  const running = await listen(app as never);
  cleanups.push(() => running.close());
  return { url: running.url, hub };
};

const onFastify: Start = async () => {
  const { metrics, hub } = await sdkThenHub();
  const { createMetricsApp } = await example<{
    createMetricsApp: (o: object) => Promise<FastifyInstance>;
  }>('fastify.mjs');
  const app = await createMetricsApp({
    hub,
    metrics: metrics.handler,
    stream: { heartbeat: false, drainMs: 200 },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, hub };
};

/** The value of one sample in Prometheus text, by name and labels (all of them, as printed). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = (match[2] ?? '')
      .split(',')
      .filter((l) => l !== '' && !l.startsWith('otel_scope_'))
      .sort()
      .join(',');
    if (got === wanted) return Number(match[3]);
  }
  throw new Error(`no sample ${name}{${wanted}} in:\n${text}`);
}

describe.each([
  ['express', onExpress],
  ['fastify', onFastify],
] as Array<[string, Start]>)('%s: the metrics example', (_name, start) => {
  it('serves /metrics whose values match a known sequence of opens, closes, events and gaps', async () => {
    const { url, hub } = await start();
    const N = 4;
    const M = 2;
    const K = 5;
    const G = 2;
    const clients = Array.from({ length: N }, () => watch(`${url}/events/lobby`));
    for (const c of clients) cleanups.push(() => c.close());
    for (const c of clients) await c.until(() => c.opens === 1, 'open');
    for (let i = 0; i < K; i++) {
      const res = await fetch(`${url}/publish/lobby`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
      });
      expect(res.status).toBe(200);
    }
    for (const c of clients) await c.until(() => c.ids().length === K, 'every event');
    for (const c of clients.slice(0, M)) c.close();
    await waitUntil(() => hub.health().streams === N - M, 'closes noticed');
    // G clients resume with an id of a history this hub never had: a gap signal each.
    const gapped = Array.from({ length: G }, () =>
      watch(`${url}/events/lobby?lastEventId=0-1`, ['ssekit-gap']),
    );
    for (const c of gapped) cleanups.push(() => c.close());
    for (const c of gapped)
      await c.until(() => c.events.some((e) => e.type === 'ssekit-gap'), 'gap signal');

    const scrape = await fetch(`${url}/metrics`);
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    expect(text).toContain('# HELP ssekit_streams_opened');
    expect(text).toContain('# TYPE ssekit_streams_open gauge');
    expect(sample(text, 'ssekit_streams_opened_total')).toBe(N + G);
    expect(sample(text, 'ssekit_streams_open')).toBe(N - M + G);
    expect(sample(text, 'ssekit_streams_closed_total', { ssekit_close_reason: 'client' })).toBe(M);
    expect(sample(text, 'ssekit_events_published_total')).toBe(K);
    expect(sample(text, 'ssekit_gaps_total', { ssekit_gap_reason: 'stale' })).toBe(G);
    expect(sample(text, 'ssekit_gaps_total', { ssekit_gap_reason: 'evicted' })).toBe(0);
    const replayed = gapped.reduce((sum, c) => sum + c.ids().length, 0);
    expect(sample(text, 'ssekit_events_replayed_total')).toBe(replayed);
    expect(sample(text, 'ssekit_frames_written_total')).toBe(N * K + replayed);
    expect(sample(text, 'ssekit_bytes_written_total')).toBeGreaterThan(0);
    expect(sample(text, 'ssekit_delivery_duration_count')).toBe(K);
    expect(sample(text, 'ssekit_store_status', { ssekit_store_status: 'ready' })).toBe(1);
    // No channel or user names in any label.
    expect(text).not.toContain('lobby');

    // Readiness: 200, then 503 while draining; the drain is counted as refusals and server closes.
    const healthy = await fetch(`${url}/healthz`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toMatchObject({ status: 'ok', ready: true, streams: N - M + G });
    const drained = hub.drain({ withinMs: 100 });
    const draining = await fetch(`${url}/healthz`);
    expect(draining.status).toBe(503);
    expect(await draining.json()).toMatchObject({ status: 'draining', ready: false });
    await drained;
    const refused = await fetch(`${url}/events/lobby`);
    expect(await refused.text()).toMatch(/^retry: \d+\n\n$/);
    const after = await (await fetch(`${url}/metrics`)).text();
    expect(sample(after, 'ssekit_streams_closed_total', { ssekit_close_reason: 'server' })).toBe(
      N - M + G,
    );
    expect(
      sample(after, 'ssekit_refusals_total', { ssekit_refusal_reason: 'draining' }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('the stock ticker example: /healthz in both flavours', () => {
  it.each(['express', 'fastify'])('%s: 200 while ready, 503 while draining', async (flavour) => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const { createTickerApp } = (await import(
      fileURLToPath(new URL(`../../examples/stock-ticker/${flavour}.mjs`, import.meta.url))
    )) as { createTickerApp: (o: object) => unknown };
    const app = await createTickerApp({ hub });
    let url: string;
    if (flavour === 'express') {
      const running = await listen(app as never);
      cleanups.push(() => running.close());
      url = running.url;
    } else {
      const fastify = app as FastifyInstance;
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      cleanups.push(() => fastify.close());
      url = `http://127.0.0.1:${(fastify.server.address() as { port: number }).port}`;
    }
    const ok = await fetch(`${url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'ok', ready: true, draining: false });
    await hub.drain({ withinMs: 10 });
    const draining = await fetch(`${url}/healthz`);
    expect(draining.status).toBe(503);
    expect(await draining.json()).toMatchObject({ status: 'draining', ready: false });
  });
});
