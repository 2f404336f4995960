/**
 * A channel's recent events, bounded by count and optionally by age and bytes.
 * Events are appended in seq order, so "after seq X" is a binary search; eviction moves a head
 * index and compacts occasionally, so it is O(1) amortised.
 */

export interface StoredEvent {
  channel: string;
  /** The hub id, `<epoch>-<seq>`. */
  id: string;
  seq: number;
  /** Event type, if any (for per-client filters). */
  event: string | undefined;
  /** The complete encoded frame, id line included. Shared by every client; never mutated. */
  frame: Buffer;
  /** When it was appended (ms since epoch). */
  time: number;
}

export interface ReplayLimits {
  /** Events kept per channel. Default 10,000. */
  maxEvents?: number;
  /** Events older than this (ms) are evicted. Default: no age limit. */
  maxAgeMs?: number;
  /** Total frame bytes kept per channel. Default 16 MiB (16 x the default `maxQueueBytes`). */
  maxBytes?: number;
}

/**
 * The defaults keep the overflow policy lossless in the common case. A client dropped for
 * overflow has, unsent, its queue (`maxQueueBytes`, 1 MiB) plus at most one write piece
 * (256 KiB) in the socket; it comes back a few seconds later and needs all of that plus what was
 * published meanwhile. 16 MiB covers that with room for 2-3 s of 4 KB events at ~1,000/s, and
 * 10,000 events for small ones. Rule: maxBytes >= maxQueueBytes + 256 KiB + rate x reconnect time.
 */
export const DEFAULT_MAX_EVENTS = 10_000;
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

export class ReplayBuffer {
  private items: StoredEvent[] = [];
  private head = 0;
  private bytes = 0;
  /** Highest seq ever evicted: a client positioned below it has missed something. */
  evictedUpTo = 0;
  /** Comparisons made by the last `after()` lookup; lets tests prove the lookup is logarithmic. */
  lastLookupSteps = 0;

  constructor(private readonly limits: ReplayLimits = {}) {}

  get size(): number {
    return this.items.length - this.head;
  }
  get byteSize(): number {
    return this.bytes;
  }
  get oldest(): StoredEvent | undefined {
    return this.items[this.head];
  }
  get newest(): StoredEvent | undefined {
    return this.size > 0 ? this.items[this.items.length - 1] : undefined;
  }

  push(event: StoredEvent): void {
    this.items.push(event);
    this.bytes += event.frame.length;
    const maxEvents = this.limits.maxEvents ?? DEFAULT_MAX_EVENTS;
    const maxBytes = this.limits.maxBytes ?? DEFAULT_MAX_BYTES;
    while (this.size > maxEvents || (this.bytes > maxBytes && this.size > 1)) this.evictOne();
    this.evictExpired(event.time);
  }

  /** Drops events older than the age limit. */
  evictExpired(now: number): void {
    const maxAge = this.limits.maxAgeMs;
    if (maxAge === undefined) return;
    while (this.size > 0 && now - this.items[this.head]!.time > maxAge) this.evictOne();
  }

  /** Events with seq greater than `seq`, oldest first. */
  after(seq: number): StoredEvent[] {
    let lo = this.head;
    let hi = this.items.length;
    let steps = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      steps++;
      if (this.items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    this.lastLookupSteps = steps;
    return this.items.slice(lo);
  }

  private evictOne(): void {
    const event = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as StoredEvent;
    this.head++;
    this.bytes -= event.frame.length;
    this.evictedUpTo = event.seq;
    if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
