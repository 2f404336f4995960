/** The real `eventsource` client, recording events of chosen types; tests await counts, not time. */
import { EventSource, type EventSourceInit } from 'eventsource';

export interface Received {
  type: string;
  data: string;
  lastEventId: string;
}

/** An EventSource that records every event of the given types and lets a test await a count. */
export class Client {
  readonly source: EventSource;
  readonly received: Received[] = [];
  readonly opened: Promise<void>;
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(url: string, types: string[] = ['message'], init?: EventSourceInit) {
    this.source = new EventSource(url, init);
    for (const type of types) {
      this.source.addEventListener(type, (event) => {
        this.received.push({ type, data: event.data, lastEventId: event.lastEventId });
        this.waiters = this.waiters.filter((w) => {
          if (this.received.length < w.count) return true;
          w.resolve();
          return false;
        });
      });
    }
    this.opened = new Promise((resolve) => this.source.addEventListener('open', () => resolve()));
  }

  /** Resolves once `count` events in total have arrived. */
  count(count: number): Promise<Received[]> {
    if (this.received.length >= count) return Promise.resolve(this.received.slice());
    return new Promise((resolve) => {
      this.waiters.push({ count, resolve: () => resolve(this.received.slice()) });
    });
  }

  data(): string[] {
    return this.received.map((r) => r.data);
  }

  close(): void {
    this.source.close();
  }
}
