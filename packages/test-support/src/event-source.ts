/**
 * The one EventSource recorder: the real `eventsource` client, recording every event of the
 * types a test names, with waits on what it recorded (listener-driven, never timers).
 */
import { EventSource, type EventSourceInit, type FetchLike } from 'eventsource';
import { TextWatch } from './text-watch.js';
import { Changes, waitUntil } from './wait.js';

/** The parts of a MessageEvent the tests look at. */
export interface ReceivedEvent {
  type: string;
  data: string;
  /** The client's last event id after this event (an event without `id:` keeps the previous one). */
  lastEventId: string;
}

export interface WatchInit extends EventSourceInit {
  /** Copies the raw body of every connection into `raw` (by teeing the body; uses the global fetch). */
  tap?: boolean;
}

/** Header text carrying `text` as UTF-8 bytes, as browsers (and the eventsource package) send it. */
export const utf8Header = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

export class EventRecorder {
  readonly source: EventSource;
  /** Every recorded event (`message` and the named types), in arrival order. */
  readonly events: ReceivedEvent[] = [];
  /** How many times the connection opened (reconnects included). */
  opens = 0;
  /** Resolves on the first `open`. */
  readonly opened: Promise<void>;
  /** With `tap: true`, the raw body text of every connection, concatenated; empty otherwise. */
  readonly raw = new TextWatch();
  private readonly changes = new Changes();
  /** Per type, how many of its events `next()` has handed out. */
  private readonly taken = new Map<string, number>();

  /** Records `message` events and those of `types`; `init` goes to EventSource. */
  constructor(url: string, types: readonly string[] = [], { tap, ...init }: WatchInit = {}) {
    if (tap && init.fetch) throw new Error('watch(): tap uses the global fetch, not init.fetch');
    this.source = new EventSource(url, tap ? { ...init, fetch: tapping(this.raw) } : init);
    const record = (event: MessageEvent): void => {
      this.events.push({
        type: event.type,
        data: String(event.data),
        lastEventId: event.lastEventId,
      });
      this.changes.changed();
    };
    for (const type of new Set(['message', ...types])) this.source.addEventListener(type, record);
    this.opened = new Promise((resolve) =>
      this.source.addEventListener('open', () => resolve(), { once: true }),
    );
    this.source.addEventListener('open', () => {
      this.opens++;
      this.changes.changed();
    });
    this.source.addEventListener('error', () => this.changes.changed());
  }

  /** Last event ids of the `message` events, in arrival order. */
  ids(): string[] {
    return this.events.filter((e) => e.type === 'message').map((e) => e.lastEventId);
  }

  /** The data of every recorded event. */
  data(): string[] {
    return this.events.map((e) => e.data);
  }

  /** Resolves when `predicate` holds (checked after every event, open and error). */
  until(predicate: () => boolean, what: string, ms?: number): Promise<void> {
    return waitUntil(predicate, what, ms, {
      on: this.changes,
      detail: () => `got ${JSON.stringify(this.events.slice(-5))}`,
    });
  }

  /** Resolves with every event so far once `count` events in total have arrived. */
  async count(count: number, ms?: number): Promise<ReceivedEvent[]> {
    await this.until(() => this.events.length >= count, `${count} events`, ms);
    return this.events.slice();
  }

  /** The next event of `type` that `next()` has not handed out yet, once it has arrived. */
  async next(type = 'message', ms?: number): Promise<ReceivedEvent> {
    const index = this.taken.get(type) ?? 0;
    await this.until(() => this.ofType(type).length > index, `${type} event ${index + 1}`, ms);
    this.taken.set(type, index + 1);
    return this.ofType(type)[index]!;
  }

  /** Events of `type` that arrived and `next()` has not handed out yet. */
  pending(type = 'message'): ReceivedEvent[] {
    return this.ofType(type).slice(this.taken.get(type) ?? 0);
  }

  close(): void {
    this.source.close();
  }

  private ofType(type: string): ReceivedEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}

/** Opens an EventSource on `url` and records `message` events and those of `types`. */
export function watch(url: string, types: readonly string[] = [], init?: WatchInit): EventRecorder {
  return new EventRecorder(url, types, init);
}

/** A fetch that hands EventSource one branch of the body and copies the other into `raw`. */
function tapping(raw: TextWatch): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (!response.body) return response;
    const [forClient, forTap] = response.body.tee();
    void (async () => {
      const decoder = new TextDecoder();
      const reader = forTap.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          raw.append(decoder.decode(value, { stream: true }));
        }
      } catch {
        // The client aborted the request: nothing more to copy.
      }
    })();
    return new Response(forClient, { status: response.status, headers: response.headers });
  };
}
