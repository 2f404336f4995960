/** A StoreListener that records what it gets and lets a test wait for a condition. */
import type { StoredEvent, StoreListener } from '@ssekit/core/store';
import { Changes, waitUntil } from './wait.js';

export class StoreRecorder implements StoreListener {
  readonly events: StoredEvent[] = [];
  closes = 0;
  private readonly changes = new Changes();

  event(event: StoredEvent): void {
    this.events.push(event);
    this.changes.changed();
  }
  closed(): void {
    this.closes++;
    this.changes.changed();
  }
  ids(): string[] {
    return this.events.map((e) => e.id);
  }

  /** Resolves when `predicate` holds (checked after every event and close); rejects after `ms`. */
  until(predicate: () => boolean, what: string, ms?: number): Promise<void> {
    return waitUntil(predicate, what, ms, {
      on: this.changes,
      detail: () => `have ${this.events.length} events, ${this.closes} closes`,
    });
  }
}
