/**
 * A channel's recent events, bounded by count and optionally by age and bytes.
 *
 * Stored compactly (issue 13: as objects, a run's token cost ~300 bytes of heap for a ~60-byte
 * frame): frames packed into shared slabs (frame-slabs.ts); seq, time and frame end in one
 * Float64Array; the event type as a one-byte code. A `StoredEvent` is built only when read (a
 * replay); its id is rebuilt from the owner's epoch and the seq. Events are appended in seq
 * order, so "after seq X" is a binary search; eviction moves a head index and compacts
 * occasionally, so it is O(1) amortised.
 */
import { formatEventId, parseEventId } from '../wire/event-id.js';
import { EventExtras, NO_TYPE } from './event-extras.js';
import { FrameSlabs } from './frame-slabs.js';
import { storedFrameText } from './stored-frame.js';

/** One event as a store hands it out (live, or in a replay). */
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

/** Whose events a buffer holds: their channel, and the epoch of their ids (`<epoch>-<seq>`). */
export interface ReplayOwner {
  channel: string;
  epoch: string;
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

/** Per event: seq, time, end of its frame in the slabs. */
const STRIDE = 3;
const MIN_ROWS = 8;
const EMPTY = new Float64Array(0);

/** Comparisons made by the last `after()` lookup, of any buffer (not part of the package's face). */
let lookupSteps = 0;

/** Lets the unit tests prove the lookup is logarithmic; `@ssekit/core/store` doesn't export it. */
export function lastLookupSteps(): number {
  return lookupSteps;
}

export class ReplayBuffer {
  private rows: Float64Array = EMPTY;
  /** Event type codes, made with the first typed event. */
  private types: Uint8Array | undefined;
  /** Type names, and odd values: made when first needed. */
  private extras: EventExtras | undefined;
  private readonly slabs = new FrameSlabs();
  /** Event indexes only grow: `first` is the oldest held, `next` the next to come, `origin` row 0's. */
  private first = 0;
  private next = 0;
  private origin = 0;
  /** Where the oldest event's frame starts (its predecessor's end may be compacted away). */
  private firstStart = 0;
  private bytes = 0;
  /** Highest seq ever evicted: a client positioned below it has missed something. */
  evictedUpTo = 0;

  /**
   * Without an owner, the first pushed event's channel and id epoch are taken as the norm; events
   * that differ still work, at the cost of an entry each.
   */
  constructor(
    private readonly limits: ReplayLimits = {},
    private owner?: ReplayOwner,
  ) {}

  get size(): number {
    return this.next - this.first;
  }
  get byteSize(): number {
    return this.bytes;
  }
  /** Memory held for the events: slabs and rows, including room not yet used. */
  get capacityBytes(): number {
    return this.slabs.capacity + this.rows.byteLength + (this.types?.byteLength ?? 0);
  }
  get oldest(): StoredEvent | undefined {
    return this.size > 0 ? this.read(this.first, this.firstStart) : undefined;
  }
  get newest(): StoredEvent | undefined {
    return this.size > 0 ? this.read(this.next - 1, this.startHint(this.next - 1)) : undefined;
  }

  push(event: StoredEvent): void {
    const index = this.add(event.seq, event.time, event.event);
    this.owner ??= learnOwner(event);
    if (event.channel !== this.owner.channel) this.extra().setChannel(index, event.channel);
    if (event.id !== formatEventId(this.owner.epoch, event.seq))
      this.extra().setId(index, event.id);
    this.written(index, this.slabs.copy(index, event.frame, this.bytes), event.frame.length);
  }

  /**
   * Appends the event whose frame is `storedFrame(id, body)`, encoding it straight into the slabs
   * (the memory store's path: no Buffer per event). `id` must be `<owner's epoch>-<seq>`.
   * Returns the frame, a view that stays valid.
   */
  append(id: string, seq: number, body: string, event: string | undefined, time: number): Buffer {
    if (!this.owner) throw new TypeError('ssekit: ReplayBuffer#append needs an owner');
    const text = storedFrameText(id, body);
    const length = Buffer.byteLength(text);
    const index = this.add(seq, time, event);
    const end = this.slabs.writeText(index, text, length, this.bytes);
    // Taken first: the limits may evict the event at once (maxEvents 0).
    const frame = this.slabs.frame(index, end - length, end);
    this.written(index, end, length);
    return frame;
  }

  /** Drops events older than the age limit. */
  evictExpired(now: number): void {
    const maxAge = this.limits.maxAgeMs;
    if (maxAge === undefined) return;
    while (this.size > 0 && now - this.rows[(this.first - this.origin) * STRIDE + 1]! > maxAge)
      this.evictOne();
  }

  /** Events with seq greater than `seq`, oldest first. */
  after(seq: number): StoredEvent[] {
    let lo = this.first;
    let hi = this.next;
    let steps = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      steps++;
      if (this.seqOf(mid) <= seq) lo = mid + 1;
      else hi = mid;
    }
    lookupSteps = steps;
    const events: StoredEvent[] = [];
    for (let index = lo; index < this.next; index++)
      events.push(this.read(index, this.startHint(index)));
    return events;
  }

  private seqOf(index: number): number {
    return this.rows[(index - this.origin) * STRIDE]!;
  }
  private endOf(index: number): number {
    return this.rows[(index - this.origin) * STRIDE + 2]!;
  }
  /** Where event `index`'s frame starts, unless it starts a slab. */
  private startHint(index: number): number {
    return index === this.first ? this.firstStart : this.endOf(index - 1);
  }

  /** The event at `index`, built; `previousEnd` is where its frame starts unless it starts a slab. */
  private read(index: number, previousEnd: number): StoredEvent {
    const row = (index - this.origin) * STRIDE;
    const seq = this.rows[row]!;
    const odd = this.extras?.oddValues(index);
    const code = this.types ? this.types[index - this.origin]! : NO_TYPE;
    const owner = this.owner!;
    return {
      channel: odd?.channel ?? owner.channel,
      id: odd?.id ?? formatEventId(owner.epoch, seq),
      seq,
      event: this.extras?.typeOf(index, code),
      frame: this.slabs.frame(index, previousEnd, this.rows[row + 2]!),
      time: this.rows[row + 1]!,
    };
  }

  /** Takes a row for a new event (its frame's end comes with `written`); returns its index. */
  private add(seq: number, time: number, event: string | undefined): number {
    if ((this.next - this.origin + 1) * STRIDE > this.rows.length)
      this.reshape(this.size + (this.size >>> 1));
    const index = this.next++;
    const row = (index - this.origin) * STRIDE;
    this.rows[row] = seq;
    this.rows[row + 1] = time;
    if (event !== undefined) {
      this.types ??= new Uint8Array(this.rows.length / STRIDE);
      this.types[index - this.origin] = this.extra().typeCode(index, event);
    }
    return index;
  }

  private written(index: number, end: number, length: number): void {
    this.rows[(index - this.origin) * STRIDE + 2] = end;
    if (index === this.first) this.firstStart = end - length;
    this.bytes += length;
    const maxEvents = this.limits.maxEvents ?? DEFAULT_MAX_EVENTS;
    const maxBytes = this.limits.maxBytes ?? DEFAULT_MAX_BYTES;
    while (this.size > maxEvents || (this.bytes > maxBytes && this.size > 1)) this.evictOne();
    this.evictExpired(this.rows[(index - this.origin) * STRIDE + 1]!);
  }

  private extra(): EventExtras {
    this.extras ??= new EventExtras();
    return this.extras;
  }

  private evictOne(): void {
    const index = this.first;
    const end = this.endOf(index);
    this.bytes -= end - this.firstStart;
    this.evictedUpTo = this.seqOf(index);
    this.extras?.forget(index);
    this.firstStart = this.slabs.startOfNext(index + 1, end);
    this.first++;
    const empty = this.size === 0;
    this.slabs.release(this.first, empty);
    if (empty) {
      // Nothing held: give back the rows too (the channel may live on, idle).
      this.rows = EMPTY;
      this.types = undefined;
      this.origin = this.first;
    } else if (this.size * 4 < this.rows.length / STRIDE && this.rows.length / STRIDE > MIN_ROWS) {
      this.reshape(this.size * 2);
    }
  }

  /** Moves the held rows to the front of new arrays of `capacity` rows. */
  private reshape(capacity: number): void {
    const from = this.first - this.origin;
    const rows = new Float64Array(Math.max(MIN_ROWS, capacity) * STRIDE);
    rows.set(this.rows.subarray(from * STRIDE, (from + this.size) * STRIDE));
    if (this.types) {
      const types = new Uint8Array(rows.length / STRIDE);
      types.set(this.types.subarray(from, from + this.size));
      this.types = types;
    }
    this.rows = rows;
    this.origin = this.first;
  }
}

/** A buffer made without an owner takes its first event's channel and epoch as the norm. */
function learnOwner(event: StoredEvent): ReplayOwner {
  const position = parseEventId(event.id);
  return {
    channel: event.channel,
    epoch: position && position.seq === event.seq ? position.epoch : '',
  };
}
