/**
 * Publishing in batches: what one process appends while its previous batch is on its way goes to
 * Redis as one script call (scripts/append.ts), so a token stream costs one round trip and one
 * vouch per batch, not per event. With nothing on its way, an append goes at the end of the
 * current task (a microtask), so a lone publish doesn't wait a loop turn, and a burst made in one
 * task is still one call. The rules (docs/decisions.md, "Publishing in batches"):
 * - Order and ids are those of the same appends one by one: seqs follow the call order across
 *   channels (except a run producer's reserved seqs, taken earlier), trimming as after each event.
 * - Each append has its own outcome: one to a closed channel rejects with ChannelClosedError, one
 *   whose commands Redis refuses (an error reply) rejects with that error; the others succeed.
 * - When the round trip fails (Redis away, a timeout), every append of the batch rejects with
 *   RedisUnavailableError. The script is atomic, so the batch was stored whole or not at all; if
 *   it was, every reader delivers all of it, in order.
 * - Any other command of the store (a replay, a close, a subscribe) sends the pending batch first,
 *   so Redis sees this process's commands in the order they were made.
 */
import { ChannelClosedError, formatEventId } from '@ssekit/core/store';
import { ReplyError } from 'ioredis';
import type { OwnAppend } from './entries.js';
import type { StoreKeys } from './options.js';

/** `String.prototype.toWellFormed` (ES2024, in Node 20; the project's lib is ES2023). */
const wellFormed = (text: string): string =>
  (text as string & { toWellFormed(): string }).toWellFormed();

/** Most events per script call: bounds how long one call keeps Redis busy. */
export const MAX_BATCH_EVENTS = 256;
/** Most body characters per script call (about bytes), for the same reason. */
export const MAX_BATCH_CHARS = 1 << 20;
/**
 * Script calls on their way at most before appends wait for one to return: the wait is what
 * lets a busy process's appends gather into batches by themselves, as large as the load needs.
 */
const MAX_CALLS_IN_FLIGHT = 1;
/**
 * How long events of a run, already delivered to this process's followers as they were made,
 * wait for others before they go to Redis: only followers on other processes, and resumes there,
 * wait for them (any command of this store sends them first). At 50 runs of 50 tokens/s that is
 * a call per dozen tokens instead of about one per token.
 */
const DELIVERED_WAIT_MS = 5;

/** A seq the caller reserved for an append (see runs/run-writer.ts), and the epoch it is in. */
export interface ReservedSeq {
  seq: number;
  epoch: string;
  /** Delivered to this process's followers as it was made; if not, it is once stored. */
  delivered: boolean;
}

interface PendingAppend extends OwnAppend {
  /** Its reserved seq; undefined: Redis takes the next one. */
  reserved: ReservedSeq | undefined;
  resolve: (id: string) => void;
  reject: (error: unknown) => void;
}

/** What the batcher needs from its store. */
export interface BatchHost {
  readonly keys: StoreKeys;
  readonly limits: readonly [maxEvents: number, maxBytes: number, maxAgeMs: number];
  /**
   * Runs the append script (through the command runner), with the vouch arguments and the
   * highest seq seen in the known epoch first (read together, when it is sent).
   */
  runAppend(keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** The reply's epoch, the seq before its first stored event, the base of the known epoch, the last seq. */
  appended(epoch: string, head: number, base: number, lastSeq: number): void;
  /**
   * One event was stored as `seq`, after its channel's entry `prev` (see the reader's `echo`).
   * Not called for an event stored under a reserved seq: that one was delivered as it was made.
   */
  stored(append: OwnAppend, epoch: string, seq: number, prev: number): void;
  /**
   * One event was refused (its channel closed, or Redis refused its commands): the channel is
   * not what this process thought, so it must be read (a close marker there ends its streams).
   */
  refused(channel: string, reserved: boolean): void;
}

/** `outcomes` then, per event, its channel's previous seq (-1 when it was not stored). */
type AppendReply = [epoch: string, base: number, head: number, ...outcomes: Array<number | string>];
/** Every event stored under its reserved seq, none asking for details: the batch's last seq. */
type ShortAppendReply = [epoch: string, base: number, head: number, last: number];

export class AppendBatcher {
  private queue: PendingAppend[] = [];
  private scheduled = false;
  /** The timer that sends a queue of delivered run events (see DELIVERED_WAIT_MS). */
  private timer: NodeJS.Timeout | undefined;
  /** Something queued waits for Redis to reach anyone: not only delivered run events. */
  private urgent = false;
  private inFlight = 0;
  /** Script calls sent, for stats. */
  calls = 0;
  /** The end of the task, or of the wait (whichever `schedule` chose): send what is queued. */
  private readonly flushLater = (): void => {
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight < MAX_CALLS_IN_FLIGHT) this.flush();
  };

  constructor(private readonly host: BatchHost) {}

  /** Queues an append for the next batch; `urgent` sends it at the end of the task even if delivered. */
  append(
    channel: string,
    body: string,
    event: string | undefined,
    reserved?: ReservedSeq,
    urgent = false,
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ channel, body, event, reserved, resolve, reject });
      if (urgent || !reserved?.delivered) this.urgent = true;
      this.schedule();
    });
  }

  /**
   * Sends the queue at the end of this task, unless a call is on its way (its reply sends it).
   * A queue of run events this process already delivered (the producer's own followers have
   * them) waits up to DELIVERED_WAIT_MS for more: one call then stores many.
   */
  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_CALLS_IN_FLIGHT || this.queue.length === 0) return;
    if (!this.urgent) {
      this.timer ??= setTimeout(this.flushLater, DELIVERED_WAIT_MS);
      return;
    }
    this.scheduled = true;
    queueMicrotask(this.flushLater);
  }

  /**
   * Sends everything queued now, in call order, in as many script calls as the limits need (also
   * when a call is on its way: another command of the store must go after these appends).
   */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.urgent = false;
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    let start = 0;
    let chars = 0;
    for (let i = 0; i < queue.length; i++) {
      chars += queue[i]!.body.length;
      const full = i + 1 - start >= MAX_BATCH_EVENTS || chars >= MAX_BATCH_CHARS;
      if (full || i === queue.length - 1) {
        this.send(queue.slice(start, i + 1));
        start = i + 1;
        chars = 0;
      }
    }
  }

  private send(batch: PendingAppend[]): void {
    const { keys } = this.host;
    const numbers = new Map<string, number>();
    const scriptKeys: string[] = [...keys.history, keys.closed];
    const names: string[] = [];
    const epochs: string[] = [];
    // Two arguments for all the events (see the script's ARGV): per argument, a Redis client
    // costs more than the bytes it carries.
    let header = '';
    let data = '';
    for (const { channel, body, event, reserved } of batch) {
      let c = numbers.get(channel);
      if (c === undefined) {
        c = numbers.size + 1;
        numbers.set(channel, c);
        names.push(channel);
        scriptKeys.push(keys.stream(channel), keys.meta(channel));
      }
      let r = 0;
      if (reserved) {
        r = epochs.indexOf(reserved.epoch) + 1;
        if (r === 0) r = epochs.push(reserved.epoch);
      }
      const detail = reserved?.delivered ? '0' : '1';
      // Each piece well-formed on its own: a lone surrogate at the end of one and another at the
      // start of the next would join into one character and shift every cut after them. (Redis
      // gets U+FFFD for a lone surrogate either way.)
      const type = event === undefined ? undefined : wellFormed(event);
      const text = wellFormed(body);
      const typeBytes = type === undefined ? -1 : Buffer.byteLength(type);
      header += `${c},${Buffer.byteLength(text)},${typeBytes},${reserved?.seq ?? 0},${r},${detail};`;
      data += type === undefined ? text : type + text;
    }
    // (The highest seq seen goes first, with the vouch: see `runAppend`.)
    const args = [
      ...this.host.limits,
      names.length,
      ...names,
      epochs.length,
      ...epochs,
      header,
      data,
    ];
    this.inFlight++;
    this.calls++;
    this.host.runAppend(scriptKeys, args).then(
      (reply) => {
        this.returned();
        this.settle(batch, reply as AppendReply | ShortAppendReply);
      },
      (error: unknown) => {
        this.returned();
        for (const append of batch) {
          // Maybe not stored: the run's next ids come from Redis again (a later one stays valid).
          if (append.reserved) this.host.refused(append.channel, true);
          append.reject(error);
        }
      },
    );
  }

  private returned(): void {
    this.inFlight--;
    this.schedule();
  }

  private settle(batch: PendingAppend[], reply: AppendReply | ShortAppendReply): void {
    const [epoch, base, head] = reply;
    if (reply.length === 4) {
      // Every event was stored under the seq its producer reserved and already delivered.
      this.host.appended(epoch, head, base, reply[3] as number);
      for (const append of batch) append.resolve(formatEventId(epoch, append.reserved!.seq));
      return;
    }
    let last = 0;
    for (let i = 0; i < batch.length; i++) {
      const outcome = reply[3 + i];
      if (typeof outcome === 'number' && outcome > last) last = outcome;
    }
    this.host.appended(epoch, head, base, last);
    for (let i = 0; i < batch.length; i++) {
      const append = batch[i]!;
      const outcome = reply[3 + i];
      if (typeof outcome === 'number') {
        const prev = reply[3 + batch.length + i];
        if (typeof prev === 'number' && prev >= 0 && !append.reserved?.delivered)
          this.host.stored(append, epoch, outcome, prev);
        append.resolve(formatEventId(epoch, outcome));
      } else {
        this.host.refused(append.channel, append.reserved !== undefined);
        if (outcome === 'SSEKIT_CLOSED') append.reject(new ChannelClosedError(append.channel));
        else append.reject(new ReplyError(String(outcome).replace(/^SSEKIT_FAILED /, '')) as Error);
      }
    }
  }
}
