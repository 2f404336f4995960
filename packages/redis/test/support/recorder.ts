/** A StoreListener that records what it gets and lets a test wait for a condition. */
import type { StoredEvent, StoreListener } from '@ssekit/core/store';

export class Recorder implements StoreListener {
  readonly events: StoredEvent[] = [];
  closes = 0;
  private readonly waiters = new Set<() => void>();

  event(event: StoredEvent): void {
    this.events.push(event);
    this.notify();
  }
  closed(): void {
    this.closes++;
    this.notify();
  }
  ids(): string[] {
    return this.events.map((e) => e.id);
  }

  /** Resolves when `predicate` holds (checked after every event); rejects after `ms`. */
  until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; have ${this.events.length} events, ${this.closes} closes`,
          ),
        );
      }, ms);
      this.waiters.add(check);
      check();
    });
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}
