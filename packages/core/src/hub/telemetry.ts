/**
 * Metrics and diagnostics: the hub's counters, read by OpenTelemetry observable instruments at
 * collection time, and lifecycle events on `node:diagnostics_channel`.
 *
 * The cost rule: nothing on the delivery path calls into OpenTelemetry. The hub keeps plain
 * integer counters (it always did, for `stats()`), and the instruments are asynchronous: the SDK
 * reads the counters when it collects. The one synchronous instrument, the publish-to-write
 * latency histogram, records once per event per tick (not per client), and only when a meter
 * from an SDK is in use. Without an SDK the hub holds no telemetry at all.
 *
 * `@opentelemetry/api` is an optional peer dependency: loaded with `require` when the app has it
 * (`createRequire` in the ESM build), never imported statically, so the package works without it.
 * The meter is described structurally (`MetricsMeter`), so ssekit's types don't need it either.
 *
 * Over 250 lines: the instruments, their attribute rules and the diagnostics messages are one
 * contract with operators' dashboards (README "Operating ssekit"), kept in one place.
 */
import { channel as diagnosticsChannel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type { GapReason, StoreStats } from '../store/store.js';
import type { CloseReason, SseStream } from '../stream/sse-stream.js';
import type { RequestLike } from '../wire/last-event-id.js';

/** Attribute values of a metric point. Only bounded sets: never a channel or a user name by default. */
export type MetricAttributes = Record<string, string | number | boolean>;

/** Options of an instrument, as OpenTelemetry's `MetricOptions`. */
export interface MetricInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

export interface MetricObservation {
  observe(value: number, attributes?: MetricAttributes): void;
}

export type MetricCallback = (result: MetricObservation) => void;

export interface MetricObservable {
  addCallback(callback: MetricCallback): void;
  removeCallback(callback: MetricCallback): void;
}

export interface MetricHistogram {
  record(value: number, attributes?: MetricAttributes): void;
}

/**
 * The part of an OpenTelemetry `Meter` (from `@opentelemetry/api`) the hub uses. Any `Meter`
 * fits: `createHub({ metrics: { meter: provider.getMeter('ssekit') } })`.
 */
export interface MetricsMeter {
  createHistogram(name: string, options?: MetricInstrumentOptions): MetricHistogram;
  createObservableCounter(name: string, options?: MetricInstrumentOptions): MetricObservable;
  createObservableUpDownCounter(name: string, options?: MetricInstrumentOptions): MetricObservable;
  createObservableGauge(name: string, options?: MetricInstrumentOptions): MetricObservable;
}

/**
 * The hub's `metrics` option. Default: the global meter of `@opentelemetry/api` when the app has
 * that package and has registered an SDK `MeterProvider` before creating the hub; otherwise off.
 * `false` turns metrics off.
 */
export type MetricsOption =
  | false
  | {
      /** A meter to use instead of the global one (e.g. `meterProvider.getMeter('ssekit')`). */
      meter?: MetricsMeter;
      /**
       * Added to every point, e.g. `{ 'ssekit.hub': 'prices' }` to tell two hubs of one process
       * apart. Keep the values few: every distinct set is a time series.
       */
      attributes?: MetricAttributes;
    };

type RefusalReason = 'streams' | 'perChannel' | 'perKey' | 'draining' | 'forbidden' | 'closed';
type StoreOperation = 'append' | 'subscribe';

/** Counters every hub keeps (plain integers; `stats()` and the instruments read them). */
export class HubCounters {
  eventsPublished = 0;
  framesWritten = 0;
  bytesWritten = 0;
  replaysServed = 0;
  eventsReplayed = 0;
  gapsSignalled = 0;
  streamsOpened = 0;
  readonly closed: Record<CloseReason, number> = {
    client: 0,
    server: 0,
    overflow: 0,
    timeout: 0,
    error: 0,
  };
  /** By gap reason (a store may name reasons of its own). */
  readonly gaps: Record<string, number> = { evicted: 0, unknown: 0, stale: 0 } satisfies Record<
    GapReason,
    number
  >;
  readonly refusals: Record<RefusalReason, number> = {
    streams: 0,
    perChannel: 0,
    perKey: 0,
    draining: 0,
    forbidden: 0,
    closed: 0,
  };
  /** By `<operation>:<unavailable|other>`. */
  readonly storeErrors = new Map<string, number>();

  storeError(operation: StoreOperation, unavailable: boolean): void {
    const key = `${operation}:${unavailable ? 'unavailable' : 'other'}`;
    this.storeErrors.set(key, (this.storeErrors.get(key) ?? 0) + 1);
  }
}

/** What the instruments read from the hub at collection time. */
export interface TelemetrySource {
  readonly counters: HubCounters;
  openStreams(): number;
  storeStats(): StoreStats;
}

/** Histogram buckets for the publish-to-write latency, in seconds (0.5 ms to 10 s). */
export const LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Every instrument, with its unit and description: the one list the README documents. Names
 * follow OpenTelemetry's conventions (dotted, UCUM units); the Prometheus exporter turns
 * `ssekit.events.published` with unit `{event}` into `ssekit_events_published_total`.
 */
export const INSTRUMENTS = {
  openStreams: {
    name: 'ssekit.streams.open',
    unit: '{stream}',
    description: 'Streams open on this hub now (started, not yet closed).',
  },
  streamsOpened: {
    name: 'ssekit.streams.opened',
    unit: '{stream}',
    description: 'Streams started on this hub.',
  },
  streamsClosed: {
    name: 'ssekit.streams.closed',
    unit: '{stream}',
    description:
      'Streams ended, by ssekit.close.reason: client, server (incl. rotation, drain, expiry), overflow, timeout, error.',
  },
  streamsDropped: {
    name: 'ssekit.streams.dropped',
    unit: '{stream}',
    description:
      'Streams dropped because the client did not read, by ssekit.drop.reason: overflow (queue full) or timeout (write timeout).',
  },
  eventsPublished: {
    name: 'ssekit.events.published',
    unit: '{event}',
    description: 'Events published through this hub (stored and assigned an id).',
  },
  framesWritten: {
    name: 'ssekit.frames.written',
    unit: '{event}',
    description: 'Events the hub wrote to streams (live and replayed), counted once per stream.',
  },
  bytesWritten: {
    name: 'ssekit.bytes.written',
    unit: 'By',
    description: 'Bytes of events and gap signals the hub wrote to streams, counted per stream.',
  },
  replays: {
    name: 'ssekit.replays',
    unit: '{replay}',
    description: 'Resumes (a Last-Event-ID) served exactly, without a gap.',
  },
  eventsReplayed: {
    name: 'ssekit.events.replayed',
    unit: '{event}',
    description: 'Events written from history to resuming streams.',
  },
  gaps: {
    name: 'ssekit.gaps',
    unit: '{gap}',
    description:
      'Gap signals sent to resuming streams, by ssekit.gap.reason: evicted, unknown, stale.',
  },
  refusals: {
    name: 'ssekit.refusals',
    unit: '{subscription}',
    description:
      'Subscriptions refused, by ssekit.refusal.reason: streams, perChannel, perKey (limits), draining, forbidden (authorize), closed (closed channel).',
  },
  storeErrors: {
    name: 'ssekit.store.errors',
    unit: '{error}',
    description:
      'Store operations that failed, by ssekit.store.operation (append, subscribe) and error.type (unavailable, other).',
  },
  storeStatus: {
    name: 'ssekit.store.status',
    unit: '1',
    description:
      "1 for the store's current status, as ssekit.store.status (ready, degraded, connecting, ...): a state set.",
  },
  latency: {
    name: 'ssekit.delivery.duration',
    unit: 's',
    description:
      'From publish (for a store that delivers asynchronously, such as Redis: from its delivery to this process) to the write to the streams, per event.',
  },
} as const;

/** The hub's instruments on one meter; `stop()` removes their callbacks. */
export class Telemetry {
  private readonly histogram: MetricHistogram;
  private readonly callbacks: Array<[MetricObservable, MetricCallback]> = [];
  private readonly base: MetricAttributes | undefined;

  constructor(meter: MetricsMeter, source: TelemetrySource, attributes?: MetricAttributes) {
    const base = attributes && Object.keys(attributes).length > 0 ? attributes : undefined;
    this.base = base;
    const withBase = (extra?: MetricAttributes): MetricAttributes | undefined =>
      base ? { ...base, ...extra } : extra;
    const options = (spec: { unit: string; description: string }) => ({
      unit: spec.unit,
      description: spec.description,
    });
    const observe = (
      create: 'createObservableCounter' | 'createObservableUpDownCounter' | 'createObservableGauge',
      spec: { name: string; unit: string; description: string },
      callback: MetricCallback,
    ) => {
      const instrument = meter[create](spec.name, options(spec));
      instrument.addCallback(callback);
      this.callbacks.push([instrument, callback]);
    };
    const { counters } = source;
    const single = (read: () => number) => (result: MetricObservation) =>
      result.observe(read(), base);
    const each =
      <K extends string>(key: string, read: () => Record<K, number>) =>
      (result: MetricObservation) => {
        for (const [value, count] of Object.entries(read()) as Array<[K, number]>)
          result.observe(count, withBase({ [key]: value }));
      };
    const I = INSTRUMENTS;
    observe(
      'createObservableUpDownCounter',
      I.openStreams,
      single(() => source.openStreams()),
    );
    observe(
      'createObservableCounter',
      I.streamsOpened,
      single(() => counters.streamsOpened),
    );
    observe(
      'createObservableCounter',
      I.streamsClosed,
      each('ssekit.close.reason', () => counters.closed),
    );
    observe(
      'createObservableCounter',
      I.streamsDropped,
      each('ssekit.drop.reason', () => ({
        overflow: counters.closed.overflow,
        timeout: counters.closed.timeout,
      })),
    );
    observe(
      'createObservableCounter',
      I.eventsPublished,
      single(() => counters.eventsPublished),
    );
    observe(
      'createObservableCounter',
      I.framesWritten,
      single(() => counters.framesWritten),
    );
    observe(
      'createObservableCounter',
      I.bytesWritten,
      single(() => counters.bytesWritten),
    );
    observe(
      'createObservableCounter',
      I.replays,
      single(() => counters.replaysServed),
    );
    observe(
      'createObservableCounter',
      I.eventsReplayed,
      single(() => counters.eventsReplayed),
    );
    observe(
      'createObservableCounter',
      I.gaps,
      each('ssekit.gap.reason', () => counters.gaps),
    );
    observe(
      'createObservableCounter',
      I.refusals,
      each('ssekit.refusal.reason', () => counters.refusals),
    );
    observe('createObservableCounter', I.storeErrors, (result) => {
      for (const [key, count] of counters.storeErrors) {
        const [operation, type] = key.split(':') as [string, string];
        result.observe(
          count,
          withBase({ 'ssekit.store.operation': operation, 'error.type': type }),
        );
      }
    });
    observe('createObservableGauge', I.storeStatus, (result) => {
      const status = source.storeStats().status;
      result.observe(
        1,
        withBase({ 'ssekit.store.status': typeof status === 'string' ? status : 'ready' }),
      );
    });
    this.histogram = meter.createHistogram(I.latency.name, {
      ...options(I.latency),
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    });
  }

  /** One event reached its streams `seconds` after it was published (or delivered by the store). */
  delivered(seconds: number): void {
    this.histogram.record(seconds, this.base);
  }

  /** The hub closed: the instruments stop reading it (and let it be collected). */
  stop(): void {
    for (const [instrument, callback] of this.callbacks.splice(0))
      instrument.removeCallback(callback);
  }
}

interface OtelApi {
  metrics: { getMeter(name: string, version?: string): MetricsMeter };
  createNoopMeter(): unknown;
}

let api: OtelApi | null | undefined;

/**
 * `@opentelemetry/api` if the app has it, else null; loaded once, synchronously, with a `require`
 * made from this module's URL, so the package resolves from where @ssekit/core is installed (its
 * optional peer). The CJS build gets `import.meta.url` from tsup's shim (`shims: true`).
 */
export function loadOpenTelemetry(): OtelApi | null {
  if (api !== undefined) return api;
  try {
    api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch {
    api = null;
  }
  return api;
}

/** The meter the `metrics` option names, or undefined when metrics are off (no SDK: no cost). */
export function resolveMeter(option: MetricsOption | undefined): MetricsMeter | undefined {
  if (option === false) return undefined;
  if (option?.meter) return option.meter;
  const otel = loadOpenTelemetry();
  if (!otel) return undefined;
  const meter = otel.metrics.getMeter('@ssekit/core');
  // No SDK registered: the API hands out its no-op meter. Skip the instruments altogether.
  return meter === otel.createNoopMeter() ? undefined : meter;
}

/**
 * Lifecycle events on `node:diagnostics_channel`, the convention of undici and Fastify:
 * `diagnostics.subscribe('ssekit:stream:open', (message) => ...)`. Published only while a
 * channel has subscribers. Messages carry channel names and the request: in-process only.
 */
export const DIAGNOSTICS = {
  /** `{ stream }`: a stream started on a hub. */
  streamOpen: diagnosticsChannel('ssekit:stream:open'),
  /** `{ stream, reason }`: a stream the hub tracked ended. */
  streamClose: diagnosticsChannel('ssekit:stream:close'),
  /** `{ channel, id, event }`: an event was stored (and is being delivered). */
  publish: diagnosticsChannel('ssekit:publish'),
  /** `{ stream, notice }`: a resuming stream was sent a gap signal. */
  gap: diagnosticsChannel('ssekit:gap'),
  /** `{ reason, channels, request }`: a subscription was refused (a limit, a drain, authorize, a closed channel). */
  refuse: diagnosticsChannel('ssekit:refuse'),
};

export interface StreamOpenMessage {
  stream: SseStream;
}
export interface StreamCloseMessage {
  stream: SseStream;
  reason: CloseReason;
}
export interface PublishMessage {
  channel: string;
  id: string;
  event: string | undefined;
}
export interface RefuseMessage {
  reason: RefusalReason;
  channels: readonly string[];
  request: RequestLike | undefined;
}
export type { RefusalReason };
