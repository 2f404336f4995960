/**
 * Metrics (issue 15): the values an OpenTelemetry SDK collects match what the test did, counted
 * opens, closes, events, frames, bytes, replays, gaps, refusals and store errors; the global
 * meter is used when an SDK is registered and nothing is set up without one; the lifecycle events
 * reach `node:diagnostics_channel` subscribers.
 */
import diagnostics from 'node:diagnostics_channel';
import { metrics } from '@opentelemetry/api';
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  createHub,
  type Hub,
  type HubOptions,
  MemoryStore,
  type MetricsMeter,
  StoreUnavailableError,
} from '@ssekit/core';
import {
  type CoreServer,
  cleanupAfterEach,
  startCoreServer,
  waitUntil,
  watch,
} from '@ssekit/test-support';
import { describe, expect, it } from 'vitest';

/** Collects on demand, as a Prometheus scrape would. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const cleanups = cleanupAfterEach();

function sdk(): { meter: MetricsMeter; reader: TestReader; provider: MeterProvider } {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  cleanups.push(() => provider.shutdown());
  return { meter: provider.getMeter('ssekit-test'), reader, provider };
}

/** Every point of one collection: `name` -> points (attributes and value). */
async function scrape(reader: TestReader): Promise<Map<string, DataPoint<unknown>[]>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return points(resourceMetrics);
}

function points(resourceMetrics: ResourceMetrics): Map<string, DataPoint<unknown>[]> {
  const byName = new Map<string, DataPoint<unknown>[]>();
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics)
      byName.set(metric.descriptor.name, [
        ...(byName.get(metric.descriptor.name) ?? []),
        ...(metric.dataPoints as DataPoint<unknown>[]),
      ]);
  return byName;
}

/** The value of `name`'s point whose attributes include `where` (the only point if none given). */
function value(
  scraped: Map<string, DataPoint<unknown>[]>,
  name: string,
  where: Record<string, string> = {},
): number {
  const found = (scraped.get(name) ?? []).filter((p) =>
    Object.entries(where).every(([k, v]) => p.attributes[k] === v),
  );
  expect(found, `${name} ${JSON.stringify(where)}`).toHaveLength(1);
  return found[0]!.value as number;
}

async function serve(options: HubOptions): Promise<{ hub: Hub; server: CoreServer }> {
  const hub = createHub(options);
  const server = await startCoreServer(hub);
  cleanups.push(async () => {
    await hub.close();
    await server.close();
  });
  return { hub, server };
}

function client(url: string) {
  const watched = watch(url, ['ssekit-gap']);
  cleanups.push(() => watched.close());
  return watched;
}

const frameBytes = (id: string, data: unknown): number =>
  Buffer.byteLength(`id: ${id}\ndata: ${JSON.stringify(data)}\n\n`);

describe('metrics through an OpenTelemetry SDK', () => {
  it('match a known sequence: N opens, M closes, K events, G gaps, a replay, a refusal', async () => {
    const { meter, reader } = sdk();
    const N = 5;
    const M = 3;
    const K = 7;
    const G = 2;
    // One more than N + G + 1 (the resume) is refused by the limit.
    const { hub, server } = await serve({ metrics: { meter }, limits: { streams: N + G + 1 } });

    const live = Array.from({ length: N }, () => client(`${server.url}?ch=feed`));
    for (const c of live) await c.until(() => c.opens === 1, 'open');
    const before = await scrape(reader);
    const ids: string[] = [];
    for (let i = 0; i < K; i++) ids.push(await hub.publish('feed', i));
    for (const c of live) await c.until(() => c.ids().length === K, 'all events');

    let scraped = await scrape(reader);
    expect(value(scraped, 'ssekit.streams.open')).toBe(N);
    expect(value(scraped, 'ssekit.streams.opened')).toBe(N);
    expect(value(scraped, 'ssekit.events.published')).toBe(K);
    expect(value(scraped, 'ssekit.frames.written')).toBe(N * K);
    const bytes = ids.reduce((sum, id, i) => sum + frameBytes(id, i), 0);
    expect(value(scraped, 'ssekit.bytes.written') - value(before, 'ssekit.bytes.written')).toBe(
      N * bytes,
    );
    // One latency point per event delivered (not per client).
    const latency = scraped.get('ssekit.delivery.duration')![0]!.value as Histogram;
    expect(latency.count).toBe(K);
    expect(latency.sum).toBeGreaterThanOrEqual(0);
    expect(latency.sum).toBeLessThan(K * 5);

    // M clients leave.
    for (const c of live.slice(0, M)) c.close();
    await waitUntil(() => hub.health().streams === N - M, 'closes noticed');

    // G resumes with an id of an earlier history (epoch 0): a gap each. One exact resume.
    const gapped = Array.from({ length: G }, () => client(`${server.url}?ch=feed&lastEventId=0-9`));
    for (const c of gapped)
      await c.until(() => c.events.some((e) => e.type === 'ssekit-gap'), 'gap');
    const resumer = client(`${server.url}?ch=feed&lastEventId=${ids[K - 3]}`);
    await resumer.until(() => resumer.ids().length === 2, 'replayed the last two');

    // M more fill the limit (N + G + 1 open), then one more is refused.
    const fill = Array.from({ length: M }, () => client(`${server.url}?ch=feed`));
    for (const c of fill) await c.until(() => c.opens === 1, 'open');
    // (This bare test server answers a LimitRefusal as an error; the adapters answer politely.)
    expect(await (await fetch(`${server.url}?ch=feed`)).text()).toMatch(/refused \(streams\)/);

    scraped = await scrape(reader);
    const opened = N + G + 1 + M;
    expect(value(scraped, 'ssekit.streams.opened')).toBe(opened);
    expect(value(scraped, 'ssekit.streams.closed', { 'ssekit.close.reason': 'client' })).toBe(M);
    expect(value(scraped, 'ssekit.streams.closed', { 'ssekit.close.reason': 'server' })).toBe(0);
    expect(value(scraped, 'ssekit.streams.open')).toBe(opened - M);
    expect(value(scraped, 'ssekit.gaps', { 'ssekit.gap.reason': 'stale' })).toBe(G);
    expect(value(scraped, 'ssekit.gaps', { 'ssekit.gap.reason': 'evicted' })).toBe(0);
    expect(value(scraped, 'ssekit.replays')).toBe(1);
    const replayed = gapped.reduce((sum, c) => sum + c.ids().length, 0) + 2;
    expect(value(scraped, 'ssekit.events.replayed')).toBe(replayed);
    expect(value(scraped, 'ssekit.frames.written')).toBe(N * K + replayed);
    expect(value(scraped, 'ssekit.refusals', { 'ssekit.refusal.reason': 'streams' })).toBe(1);
    expect(value(scraped, 'ssekit.refusals', { 'ssekit.refusal.reason': 'draining' })).toBe(0);
    expect(value(scraped, 'ssekit.streams.dropped', { 'ssekit.drop.reason': 'overflow' })).toBe(0);
    expect(value(scraped, 'ssekit.store.status', { 'ssekit.store.status': 'ready' })).toBe(1);
    expect(value(scraped, 'ssekit.events.published')).toBe(hub.stats().eventsPublished);

    // Units and descriptions are declared.
    const { resourceMetrics } = await reader.collect();
    const descriptors = resourceMetrics.scopeMetrics.flatMap((s) =>
      s.metrics.map((m) => m.descriptor),
    );
    expect(descriptors.find((d) => d.name === 'ssekit.bytes.written')?.unit).toBe('By');
    expect(descriptors.find((d) => d.name === 'ssekit.delivery.duration')?.unit).toBe('s');
    for (const d of descriptors) expect(d.description, d.name).not.toBe('');
  });

  it('count store errors by operation, and a drain as refusals and server closes', async () => {
    const { meter, reader } = sdk();
    const store = new MemoryStore();
    let failing = true;
    // No synchronous append: the hub takes the store's promise path, which can fail.
    const appendNow = store.appendNow.bind(store);
    Object.assign(store, {
      appendNow: undefined,
      append: async (channel: string, body: string, event: string | undefined) => {
        if (failing) throw new StoreUnavailableError('down');
        return appendNow(channel, body, event);
      },
    });
    const { hub, server } = await serve({ metrics: { meter }, store });
    await expect(hub.publish('x', 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    failing = false;
    await hub.publish('x', 2);
    const c = client(`${server.url}?ch=x`);
    await c.until(() => c.opens === 1, 'open');
    await hub.drain({ withinMs: 10 });
    const refused = await fetch(`${server.url}?ch=x`);
    await refused.text();
    const scraped = await scrape(reader);
    expect(
      value(scraped, 'ssekit.store.errors', {
        'ssekit.store.operation': 'append',
        'error.type': 'unavailable',
      }),
    ).toBe(1);
    expect(value(scraped, 'ssekit.events.published')).toBe(1);
    expect(value(scraped, 'ssekit.streams.closed', { 'ssekit.close.reason': 'server' })).toBe(1);
    expect(
      value(scraped, 'ssekit.refusals', { 'ssekit.refusal.reason': 'draining' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('adds the constant attributes of the option to every point', async () => {
    const { meter, reader } = sdk();
    const hub = createHub({ metrics: { meter, attributes: { 'ssekit.hub': 'prices' } } });
    await hub.publish('x', 1);
    const scraped = await scrape(reader);
    expect(value(scraped, 'ssekit.events.published', { 'ssekit.hub': 'prices' })).toBe(1);
    expect(
      value(scraped, 'ssekit.streams.closed', {
        'ssekit.hub': 'prices',
        'ssekit.close.reason': 'client',
      }),
    ).toBe(0);
    await hub.close();
  });

  it('uses the global meter when an SDK is registered before the hub; none without one, or with metrics: false', async () => {
    const internals = (hub: Hub) => (hub as unknown as { telemetry: unknown }).telemetry;
    // No SDK: the API's no-op meter is recognised and no instrument is made.
    const bare = createHub();
    expect(internals(bare)).toBeUndefined();
    await bare.close();

    const { reader, provider } = sdk();
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    cleanups.push(() => metrics.disable());
    const hub = createHub();
    const off = createHub({ metrics: false });
    cleanups.push(() => hub.close());
    cleanups.push(() => off.close());
    expect(internals(hub)).toBeDefined();
    expect(internals(off)).toBeUndefined();
    await hub.publish('x', 1);
    await hub.publish('x', 2);
    await off.publish('x', 1);
    expect(value(await scrape(reader), 'ssekit.events.published')).toBe(2);
  });
});

describe('node:diagnostics_channel', () => {
  it('publishes stream open / close, publish, gap and refuse, to subscribers only', async () => {
    const seen: Array<[string, Record<string, unknown>]> = [];
    const names = [
      'ssekit:stream:open',
      'ssekit:stream:close',
      'ssekit:publish',
      'ssekit:gap',
      'ssekit:refuse',
    ];
    const listeners = names.map((name) => {
      const listener = (message: unknown) => seen.push([name, message as Record<string, unknown>]);
      diagnostics.subscribe(name, listener);
      return () => diagnostics.unsubscribe(name, listener);
    });
    cleanups.push(() => {
      for (const stop of listeners) stop();
    });
    const { hub, server } = await serve({
      metrics: false,
      authorize: (_request, channel) => channel !== 'secret',
    });
    const c = client(`${server.url}?ch=room`);
    await c.until(() => c.opens === 1, 'open');
    const id = await hub.publish('room', { hello: 1 }, { event: 'greeting' });
    const gapped = client(`${server.url}?ch=room&lastEventId=0-9`);
    await gapped.until(() => gapped.events.some((e) => e.type === 'ssekit-gap'), 'gap');
    const denied = await fetch(`${server.url}?ch=secret`);
    expect(denied.status).toBe(403);
    c.close();
    await waitUntil(() => seen.some(([name]) => name === 'ssekit:stream:close'), 'close');

    const of = (name: string) => seen.filter(([n]) => n === name).map(([, m]) => m);
    expect(of('ssekit:stream:open')).toHaveLength(2);
    expect(of('ssekit:stream:open')[0]!.stream).toBe(server.streams[0]);
    expect(of('ssekit:publish')).toEqual([{ channel: 'room', id, event: 'greeting' }]);
    expect(of('ssekit:gap')).toHaveLength(1);
    expect(of('ssekit:gap')[0]!.notice).toMatchObject({ reason: 'stale', lastEventId: '0-9' });
    expect(of('ssekit:refuse')).toEqual([
      expect.objectContaining({ reason: 'forbidden', channels: ['secret'] }),
    ]);
    expect(of('ssekit:stream:close')).toEqual([{ stream: server.streams[0], reason: 'client' }]);
  });
});
