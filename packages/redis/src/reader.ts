/**
 * One reader per store (so per process): a dedicated connection that XREAD-BLOCKs on the streams
 * of every channel with local subscribers, never one per client. Entries from all streams of a
 * reply are merged by seq, so each channel's events (and events across channels) arrive in id
 * order; a run's channel, whose producer reserves its ids ahead (runs/run-writer.ts), is only
 * ever followed alone and keeps its own order. Positions live here, so after a reconnect reading
 * resumes exactly where it stopped.
 *
 * Longer than the other files on purpose: the read loop, its epoch check, the merge by seq and the
 * catching-up of a newly added channel share the taps' positions and only make sense together.
 */
import type { StoredEvent, StoreListener } from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import { connectionState, isTimeout, onceReady } from './connection.js';
import {
  type OwnAppend,
  type RawEntry,
  readFields,
  seqOf,
  seqTextOf,
  toStoredEvent,
} from './entries.js';
import type { StoreKeys } from './options.js';
import { scripts } from './scripts/index.js';

/** Deliver the reply; the history 'changed' (streams were ended); or drop it and read again. */
export type Verdict = 'deliver' | 'changed' | 'retry';

/** What the reader needs from its store. */
export interface ReaderHost {
  readonly keys: StoreKeys;
  /** The epoch this process believes current, if any. */
  readonly epoch: string | undefined;
  /**
   * ARGV of the vouch script for a command on `conn`, and the highest seq this process has seen
   * in the epoch it names (read at the same moment).
   */
  vouch(conn: Redis): Promise<{ args: string[]; seen: number }>;
  /**
   * Checks the epoch the server vouched for before a blocking read (with the counter and the base
   * of the epoch this process knew) and the epoch read after it. Unless it says 'deliver', the
   * reply must be dropped.
   */
  confirm(
    before: string,
    after: string | null,
    counter: number,
    base: number,
    seenBefore: number,
  ): Promise<Verdict>;
  /**
   * Whether this process alone writes `channel` (a run it produces, its lease held). A channel
   * followed alone and written only here is not read back at all: its events are echoed.
   */
  writesAlone(channel: string): boolean;
  /** Wakes a blocked read early (an XADD to the reader's wake stream, from another connection). */
  wake(key: string): Promise<void>;
  noteError(error: unknown): void;
  noteSeq(seq: number): void;
}

interface Tap {
  readonly channel: string;
  readonly key: string;
  /** Usually one (the hub's); several when hubs share this store. */
  listeners: StoreListener[];
  /** Stream id to read after. */
  position: string;
  /** Seq of the channel's last entry seen; the next entry's `p` must equal it. Undefined: don't check. */
  lastSeq: string | undefined;
  /** Resolved once a read has brought this channel level with the others (see `add`). */
  catchingUp: Array<() => void> | undefined;
  /** Followed alone (channel order only): this process's own appends are delivered at once (`echo`). */
  alone: boolean;
  /**
   * Set when an echo could not be delivered: the reads from this serial on must include the
   * channel, even if this process alone writes it, until one has brought it level. 0: not behind.
   */
  behindFrom: number;
}

type XReadReply = Array<[key: string, entries: RawEntry[]]> | null;

/**
 * Whether the reply of a blocking XREAD may lack other streams' entries. An XREAD that waited is
 * answered (up to Redis 7.0) with the entries of the one stream that woke it, right after the
 * script that wrote them: if that script was a batch over several channels, the other channels'
 * entries, some below the last one here, are missing. One entry is safe (the first entry written
 * after the read blocked is the lowest, reserved seqs aside: their channel is followed alone),
 * and so is a reply with several streams (the read did not wait, so it saw them all).
 */
function partial(reply: XReadReply, wakeKey: string, taps: number): boolean {
  if (reply?.length !== 1 || taps < 2) return false;
  const [key, entries] = reply[0]!;
  return key !== wakeKey && entries.length > 1;
}

export interface ReaderOptions {
  blockMs: number;
  readCount: number;
  retryDelay: (attempt: number) => number;
}

export class StreamReader {
  private readonly taps = new Map<string, Tap>();
  readonly wakeKey: string;
  private wakePosition = '0-0';
  private readonly stopper = new AbortController();
  private running = false;
  private reading = false;
  private idle: (() => void) | undefined;
  /** Bumped when positions are reset, so a reply read with old positions is dropped. */
  private generation = 0;
  private failures = 0;
  /** The next read doesn't block: after a (re)connect or a history change, check the epoch at once. */
  private recheck = true;
  /** Id of the last event delivered, and counts by path, for stats. */
  lastDelivered: string | null = null;
  deliveredOnRead = 0;
  deliveredOnAppend = 0;
  /** The last read timed out (a hung Redis) and none has succeeded since. */
  private timedOut = false;
  /** The epoch of the last delivered read; an echo from another epoch waits for the reader. */
  private epoch: string | undefined;
  /** Serial of the last read sent. */
  private readSerial = 0;

  constructor(
    private readonly conn: Redis,
    private readonly host: ReaderHost,
    readerId: string,
    private readonly options: ReaderOptions,
  ) {
    this.wakeKey = host.keys.wake(readerId);
    conn.on('ready', () => {
      this.recheck = true;
    });
  }

  get channelCount(): number {
    return this.taps.size;
  }

  get state(): string {
    if (this.stopper.signal.aborted) return 'closed';
    if (!this.running) return 'idle';
    const state = connectionState(this.conn);
    return state === 'ready' && this.timedOut ? 'degraded' : state;
  }

  /**
   * Starts delivering entries of `channel` after seq `lastSeq` (the channel's last entry).
   * `caughtUp` resolves once a read has delivered the channel up to the end of its stream. Until
   * then, other channels' newer entries may have been delivered before this channel's older ones
   * (they were read before it was added), so the hub waits for it before it hands a client over.
   */
  add(
    channel: string,
    listener: StoreListener,
    lastSeq: string,
    alone = false,
  ): { unsubscribe: () => void; caughtUp: Promise<void> } {
    let tap = this.taps.get(channel);
    let caughtUp = Promise.resolve();
    if (tap) {
      tap.listeners = [...tap.listeners, listener];
      // Another hub's subscription may need the order across channels: no shortcuts then.
      tap.alone = tap.alone && alone;
      if (tap.catchingUp) caughtUp = new Promise((resolve) => tap!.catchingUp!.push(resolve));
    } else {
      const created: Tap = {
        channel,
        key: this.host.keys.stream(channel),
        listeners: [listener],
        position: `${lastSeq}-0`,
        lastSeq,
        // Followed alone: nothing to level it with (see `add`'s comment).
        catchingUp: alone ? undefined : [],
        alone,
        behindFrom: 0,
      };
      tap = created;
      this.taps.set(channel, created);
      if (created.catchingUp)
        caughtUp = new Promise((resolve) => created.catchingUp!.push(resolve));
      if (this.mustRead(created)) {
        // The next read must not block: a quiet channel is caught up as soon as it is read once.
        this.recheck = true;
        this.kick();
      } else if (!this.running) {
        // Nothing to read (this process writes it alone), but the reader must run to vouch for
        // the epoch that lets its appends be delivered without a read back.
        this.kick();
      }
    }
    const added = tap;
    const unsubscribe = (): void => {
      if (this.taps.get(channel) !== added || !added.listeners.includes(listener)) return;
      added.listeners = added.listeners.filter((other) => other !== listener);
      if (added.listeners.length > 0) return;
      this.taps.delete(channel);
      this.caughtUp(added);
    };
    return { unsubscribe, caughtUp };
  }

  /**
   * This process stored an event (append-batch.ts), or made one under a seq it reserved
   * (`stored` false: runs/run-writer.ts). When it directly follows what this reader delivered last
   * on a channel followed alone, it is delivered now rather than read back: one round trip
   * instead of two (none for a reserved seq), and no wait for the blocking read to wake. The read that returns
   * it later skips it (its seq is not after the channel's last). Anything else (another epoch, a
   * channel still catching up, another process's entry in between) is left to the read.
   */
  echo(
    { channel, body, event }: OwnAppend,
    epoch: string,
    seq: number,
    prev: number,
    stored: boolean,
  ): boolean {
    const tap = this.taps.get(channel);
    if (!tap?.alone) return false;
    // A reserved seq's epoch was vouched for by the reply that reserved it: until this reader has
    // read once, that is the only epoch there is to check.
    const sameEpoch = epoch === this.epoch || (!stored && this.epoch === undefined);
    if (tap.catchingUp || !sameEpoch || tap.lastSeq === undefined || Number(tap.lastSeq) !== prev) {
      // Once stored, the read delivers it; make sure one does, even where this process alone
      // writes. (Not stored yet, under a reserved seq: it comes back here once it is.)
      if (stored && (tap.lastSeq === undefined || Number(tap.lastSeq) < seq))
        this.readAgain(channel);
      return false;
    }
    tap.position = `${seq}-0`;
    tap.lastSeq = String(seq);
    this.host.noteSeq(seq);
    const made = toStoredEvent(channel, epoch, seq, {
      body,
      event,
      time: Date.now(),
      prev: undefined,
      closed: false,
      final: undefined,
    });
    this.lastDelivered = made.id;
    this.deliveredOnAppend++;
    this.tellEvent(tap, made);
    return true;
  }

  /**
   * An event made under a reserved seq (`echo` with `stored` false) was delivered but not stored:
   * the channel's next entry won't name it as its previous one, so don't check that once.
   */
  forgetLast(channel: string): void {
    const tap = this.taps.get(channel);
    if (tap) tap.lastSeq = undefined;
  }

  /** `channel` must be read again from its position, at once (its events are not all echoed). */
  readAgain(channel: string): void {
    const tap = this.taps.get(channel);
    if (!tap) return;
    // Only a read sent from now on can hold what made it necessary: one already under way may
    // have been answered before it, so it must not clear the mark.
    tap.behindFrom = this.readSerial + 1;
    this.recheck = true;
    this.kick();
  }

  /** Whether a read must include `tap`: not a channel followed alone and written only here. */
  private mustRead(tap: Tap): boolean {
    return (
      !tap.alone ||
      tap.behindFrom > 0 ||
      tap.lastSeq === undefined ||
      !this.host.writesAlone(tap.channel)
    );
  }

  private caughtUp(tap: Tap): void {
    const waiters = tap.catchingUp;
    tap.catchingUp = undefined;
    if (waiters) for (const resolve of waiters) resolve();
  }

  /**
   * The history was lost or rewound: positions mean nothing any more. Every local stream is ended
   * (its client comes back and is told `stale`), and reading goes on from `head` in the new one.
   */
  historyChanged(head: number): void {
    this.generation++;
    this.epoch = undefined;
    const taps = [...this.taps.values()];
    for (const tap of taps) {
      tap.position = `${head}-0`;
      tap.lastSeq = undefined;
    }
    for (const tap of taps) this.tellClosed(tap);
  }

  stop(): void {
    for (const tap of this.taps.values()) this.caughtUp(tap);
    this.stopper.abort();
    this.idle?.();
    this.conn.disconnect();
  }

  private kick(): void {
    if (this.stopper.signal.aborted) return;
    if (!this.running) {
      this.running = true;
      void this.run();
    } else if (this.idle) {
      this.idle();
    } else if (this.reading) {
      // The pending XREAD doesn't cover the new channel. The wake entry persists, so even if it
      // lands before that XREAD reaches Redis, the XREAD returns at once.
      this.host.wake(this.wakeKey).catch((error: unknown) => this.host.noteError(error));
    }
  }

  private async run(): Promise<void> {
    const stop = this.stopper.signal;
    while (!stop.aborted) {
      if (this.taps.size === 0) {
        await new Promise<void>((resolve) => {
          this.idle = resolve;
        });
        this.idle = undefined;
        continue;
      }
      if (this.conn.status === 'wait') this.conn.connect().catch(() => {});
      if (this.conn.status !== 'ready') {
        await onceReady(this.conn, stop);
        continue;
      }
      try {
        await this.readOnce();
        this.failures = 0;
        this.timedOut = false;
      } catch (error) {
        if (stop.aborted) break;
        if (isTimeout(error)) this.timedOut = true;
        this.host.noteError(error);
        // A connection loss waits for 'ready' above; anything else backs off before retrying.
        if (this.conn.status === 'ready')
          await this.pause(this.options.retryDelay(++this.failures));
      }
    }
  }

  private pause(ms: number): Promise<void> {
    const signal = this.stopper.signal;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  private async readOnce(): Promise<void> {
    const taps = [...this.taps.values()].filter((tap) => this.mustRead(tap));
    const serial = ++this.readSerial;
    const generation = this.generation;
    const { keys } = this.host;
    const streams = [...taps.map((t) => t.key), this.wakeKey];
    const positions = [...taps.map((t) => t.position), this.wakePosition];
    const block = this.recheck ? [] : ['BLOCK', this.options.blockMs];
    this.recheck = false;
    // (The seq is read with the epoch it belongs to: one read before the probe may be the
    // previous epoch's.)
    const { args: vouch, seen: seenBefore } = await this.host.vouch(this.conn);
    // The epoch the server vouches for before the blocking read (with the counter) and the epoch
    // after it tell whether the history was lost or rewound while the reply was being made.
    const pipeline = this.conn
      .pipeline()
      .call('EVALSHA', scripts.vouch.sha, keys.history.length, ...keys.history, ...vouch)
      .call('XREAD', 'COUNT', this.options.readCount, ...block, 'STREAMS', ...streams, ...positions)
      .get(keys.epoch);
    this.reading = true;
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } finally {
      this.reading = false;
    }
    if (!results) throw new Error('ssekit/redis: reader pipeline returned nothing');
    const vouchError = results[0]?.[0];
    if (vouchError?.message.startsWith('NOSCRIPT')) {
      // A restarted (or flushed) server forgot the script: load it and read again at once.
      await this.conn.call('SCRIPT', 'LOAD', scripts.vouch.lua);
      this.recheck = true;
      return;
    }
    for (const [error] of results) if (error) throw error;
    const [vouched, reply, after] = results.map(([, value]) => value) as [
      [string, number, number],
      XReadReply,
      string | null,
    ];
    const [before, counter, base] = vouched;
    if (generation !== this.generation) return;
    const verdict = await this.host.confirm(before, after, counter, base, seenBefore);
    if (verdict === 'retry') {
      this.recheck = true;
      return;
    }
    if (verdict === 'changed') {
      this.recheck = true;
      // The streams were ended; nobody should wait on a history that is gone.
      for (const tap of taps) this.caughtUp(tap);
      return;
    }
    if (generation !== this.generation) return;
    if (block.length > 0 && partial(reply, this.wakeKey, taps.length)) {
      // Read again at once, without BLOCK: that reply holds every stream.
      this.recheck = true;
      return;
    }
    this.epoch = before;
    if (reply) this.deliver(reply, taps, before!);
    // A channel whose entries this read did not cap is now level with the others.
    const capped = new Set(
      (reply ?? [])
        .filter(([, entries]) => entries.length >= this.options.readCount)
        .map(([key]) => key),
    );
    for (const tap of taps) {
      if (capped.has(tap.key)) continue;
      if (tap.catchingUp) this.caughtUp(tap);
      // Level again: from here on this process's own appends are echoed.
      if (tap.behindFrom > 0 && tap.behindFrom <= serial) tap.behindFrom = 0;
    }
    if (taps.some((tap) => tap.catchingUp)) this.recheck = true;
  }

  private deliver(reply: Array<[string, RawEntry[]]>, taps: Tap[], epoch: string): void {
    const byKey = new Map(taps.map((tap) => [tap.key, tap]));
    // COUNT caps each stream separately: beyond the lowest last seq of a capped stream, another
    // stream's entries might be missing from this reply, so they wait for the next read.
    let cutoff = Number.POSITIVE_INFINITY;
    const picked: Array<{ tap: Tap; id: string; seq: number; fields: string[] }> = [];
    for (const [key, entries] of reply) {
      if (entries.length === 0) continue;
      if (key === this.wakeKey) {
        this.wakePosition = entries[entries.length - 1]![0];
        continue;
      }
      const tap = byKey.get(key);
      if (!tap || this.taps.get(tap.channel) !== tap) continue;
      if (entries.length >= this.options.readCount)
        cutoff = Math.min(cutoff, seqOf(entries[entries.length - 1]![0]));
      for (const [id, fields] of entries) picked.push({ tap, id, seq: seqOf(id), fields });
    }
    const ordered = picked.filter((p) => p.seq <= cutoff).sort((a, b) => a.seq - b.seq);
    for (const { tap, id, seq, fields } of ordered) {
      if (this.taps.get(tap.channel) !== tap) continue;
      // Delivered already, as this process's own append (`echo`).
      if (tap.lastSeq !== undefined && seq <= Number(tap.lastSeq)) continue;
      const entry = readFields(fields);
      const broken = tap.lastSeq !== undefined && entry.prev !== tap.lastSeq;
      tap.position = id;
      tap.lastSeq = seqTextOf(id);
      this.host.noteSeq(seq);
      if (broken || entry.closed) {
        // Closed for good, or entries were trimmed before this reader got to them: end the local
        // streams. A client of a closed channel then gets 204; any other one resumes and is told
        // what was evicted.
        this.tellClosed(tap, entry.closed ? entry.final : undefined);
        continue;
      }
      const event = toStoredEvent(tap.channel, epoch, seq, entry);
      this.lastDelivered = event.id;
      this.deliveredOnRead++;
      this.tellEvent(tap, event);
    }
  }

  /** Hands one event to the channel's listeners; a listener that throws is noted, not fatal. */
  private tellEvent(tap: Tap, event: StoredEvent): void {
    for (const listener of tap.listeners) {
      try {
        listener.event(event);
      } catch (error) {
        this.host.noteError(error);
      }
    }
  }

  /** Tells the channel's listeners that its streams must end, with the closer's final frame if any. */
  private tellClosed(tap: Tap, final?: string): void {
    const frame = final === undefined ? undefined : Buffer.from(final);
    for (const listener of tap.listeners) {
      try {
        listener.closed(frame);
      } catch (error) {
        this.host.noteError(error);
      }
    }
  }
}
