/** The hub's public types: channels and payloads, options, the gap notice, stats. */
import type { ReplayLimits } from '../store/replay-buffer.js';
import type { ChannelGap, EventStore, GapReason, StoreStats } from '../store/store.js';
import type { SseStream } from '../stream/sse-stream.js';
import type { Serializer, SseEventInit } from '../wire/encode.js';
import type { RequestLike } from '../wire/last-event-id.js';
import type { LimitOptions } from './limits.js';
import type { MetricsOption } from './telemetry.js';

/** Channel name -> payload type. `Record<string, unknown>` when untyped. */
export type EventMap = Record<string, unknown>;
export type ChannelOf<Events extends EventMap> = keyof Events & string;

/** `(request, channel) => boolean`: checked for every channel before the stream starts. */
export type Authorize = (
  request: RequestLike | undefined,
  channel: string,
) => AuthorizeResult | Promise<AuthorizeResult>;

/**
 * `true` / `false`, or allowed until a time: the stream then ends at `expiresAt` with a `retry:`
 * hint, and the reconnect (with fresh credentials) is authorized again before any replayed byte.
 */
export type AuthorizeResult = boolean | { expiresAt: number | Date };

/** What a per-client filter sees of an event. */
export interface EventMeta {
  channel: string;
  id: string;
  event: string | undefined;
}

/** Told to the client (and to `onGap`) when its Last-Event-ID can't be honoured exactly. */
export interface GapNotice {
  reason: GapReason;
  /** The id the client sent. */
  lastEventId: string;
  /** The oldest id still available on its channels, or null when nothing is buffered. */
  oldestId: string | null;
  channels: string[];
  /**
   * Per channel: `reason` null where that channel's replay is complete, else why not, and the
   * oldest id it still holds. Lets a client on several channels tell which ranges are whole.
   */
  byChannel: Record<string, ChannelGap>;
  /** Whether the available events follow (`gap.replay: 'available'`) or not (`'none'`). */
  replay: 'available' | 'none';
}

/** The message of the `ssekit:gap` diagnostics channel. */
export interface GapMessage {
  stream: SseStream;
  notice: GapNotice;
}

export interface GapOptions {
  /** Event type of the gap signal. Default `ssekit-gap`. */
  event?: string;
  /** After the signal, replay what is still buffered (`'available'`, default) or nothing (`'none'`). */
  replay?: 'available' | 'none';
}

export interface HubOptions {
  /** Where ids and history live. Default: an in-memory store with `replay` limits. */
  store?: EventStore;
  /** Per-channel replay buffer limits for the default in-memory store. */
  replay?: ReplayLimits;
  gap?: GapOptions;
  /** Runs after the gap signal and before any replay, e.g. to send a fresh snapshot. */
  onGap?: (notice: GapNotice, stream: SseStream) => void | Promise<void>;
  /** Default authorization for every subscribe. */
  authorize?: Authorize;
  /** Serializer for non-string data. Default JSON. */
  serializer?: Serializer;
  /** Connection limits per process, per channel and per key. */
  limits?: LimitOptions;
  /**
   * OpenTelemetry metrics (see the core README, "Operating ssekit"). Default: the global meter of
   * `@opentelemetry/api`, when the app has that package and registered an SDK before creating the
   * hub; without one, nothing is measured and nothing costs. `false`: off.
   */
  metrics?: MetricsOption;
}

export interface SubscribeOptions {
  /** Overrides the stream's Last-Event-ID. */
  lastEventId?: string | undefined;
  request?: RequestLike;
  /** Per-client filter: only matching events are written to this client. */
  filter?: (event: EventMeta) => boolean;
  /** Overrides the hub's authorize hook for this subscription. */
  authorize?: Authorize;
  /** Overrides the hub's gap replay policy for this subscription. */
  gapReplay?: 'available' | 'none';
  /** Ends the stream right after the first event of one of these types (e.g. a run's `done`). */
  endOn?: readonly string[];
  /** Written instead of that event (e.g. `data: [DONE]`); default: the event itself. */
  endFrame?: Buffer;
}

export interface PublishOptions {
  /** Event type; the client's `addEventListener(event, ...)` receives it. */
  event?: string;
}

export interface CloseOptions {
  /** A last event sent to each client before its stream ends. */
  final?: SseEventInit;
}

export interface HubStats {
  clients: number;
  channels: number;
  bufferedEvents: number;
  bufferedBytes: number;
  /** Runs this process is producing. */
  runs: number;
  eventsPublished: number;
  framesWritten: number;
  replaysServed: number;
  gapsSignalled: number;
  droppedForOverflow: number;
  /** Subscriptions turned away by a limit or a drain. */
  refusedByLimit: number;
  store: StoreStats;
}

export interface HubHealth {
  /** `ok`: take clients; `degraded`: the store is not ready; `draining` or `closed`: send them elsewhere. */
  status: 'ok' | 'degraded' | 'draining' | 'closed';
  /** `status === 'ok'`: what a readiness probe answers. */
  ready: boolean;
  draining: boolean;
  streams: number;
  runs: number;
  /** The store's own stats (Redis: status, reader state and position, last error). */
  store: StoreStats;
}
