/** The real `eventsource` client, with a log of what it received and promise-based waits. */
import { EventSource, type EventSourceInit } from 'eventsource';

export interface Received {
  type: string;
  data: string;
  id: string;
}

export interface WatchedSource {
  source: EventSource;
  events: Received[];
  /** Ids of `message` events, in arrival order. */
  ids(): string[];
  opens: number;
  /** Resolves when `predicate` holds (checked after every event, open and error). Rejects after `ms`. */
  until(predicate: () => boolean, what: string, ms?: number): Promise<void>;
  close(): void;
}

/** Header text carrying `text` as UTF-8 bytes, as browsers (and the eventsource package) send it. */
export const utf8Header = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

export function watch(
  url: string,
  types: string[] = [],
  init: EventSourceInit = {},
): WatchedSource {
  const source = new EventSource(url, init);
  const events: Received[] = [];
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const check of [...waiters]) check();
  };
  const record = (event: MessageEvent): void => {
    events.push({ type: event.type, data: String(event.data), id: event.lastEventId });
    notify();
  };
  source.addEventListener('message', record);
  for (const type of types) source.addEventListener(type, record);
  const watched: WatchedSource = {
    source,
    events,
    opens: 0,
    ids: () => events.filter((e) => e.type === 'message').map((e) => e.id),
    until(predicate, what, ms = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!predicate()) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.slice(-5))}`),
          );
        }, ms);
        waiters.add(check);
        check();
      });
    },
    close: () => source.close(),
  };
  source.addEventListener('open', () => {
    watched.opens++;
    notify();
  });
  source.addEventListener('error', notify);
  return watched;
}
