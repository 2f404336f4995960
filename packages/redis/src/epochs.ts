/**
 * What this process knows of the history's epoch, and what it does when a reply shows another
 * one: carried over whole (nothing happens), changed (the local streams end), or an epoch this
 * process saw grow beyond what Redis vouches for (renounced for every process). See "Epoch, and
 * vouching for the history" in docs/decisions.md.
 */
import { newEpoch } from '@ssekit/core/store';
import type { Redis } from 'ioredis';
import type { CommandRunner } from './command-runner.js';
import { durability } from './connection.js';
import type { StoreKeys } from './options.js';
import type { Verdict } from './reader.js';
import { scripts } from './scripts/index.js';

/** How an epoch in a reply relates to the one this process knows. */
export type Observed = 'same' | 'carried' | 'changed' | 'outdated';

/** How many epochs this process moved on from it remembers. */
const RETIRED_KEPT = 16;

export class EpochTracker {
  private currentEpoch: string | undefined;
  /** Epochs this process moved on from, newest last: a late reply carrying one changes nothing. */
  private readonly retired: string[] = [];
  private seen = 0;
  /** Times this process saw the history lost or rewound (each ends the local streams). */
  historyChanges = 0;
  /** Times the epoch changed with the history carried over whole. */
  epochsCarriedOver = 0;

  constructor(
    private readonly runner: CommandRunner,
    private readonly keys: StoreKeys,
    private readonly durable: boolean | undefined,
    /** The history was lost or rewound: positions mean nothing, local streams must end. */
    private readonly historyChanged: (head: number) => void,
  ) {}

  get epoch(): string | undefined {
    return this.currentEpoch;
  }
  /**
   * The first ARGV of every script that vouches for the epoch (a candidate epoch, whether the
   * server is durable: '1', '0', '' unknown, and the epoch this process knows), and the highest
   * seq this process saw in that epoch. Both are read at the same moment, after the wait for the
   * durability probe: a seq read before it may belong to the epoch before, and a script would take
   * it for a counter that went back.
   */
  async vouch(conn: Redis): Promise<{ args: string[]; seen: number }> {
    const durable = await durability(conn, this.durable);
    return { args: [newEpoch(), durable, this.currentEpoch ?? ''], seen: this.seen };
  }

  /** A seq delivered or handed out in the current epoch. */
  noteSeq(seq: number): void {
    if (seq > this.seen) this.seen = seq;
  }

  /**
   * Takes in an epoch from any reply, with the head seq read with it, the base Redis vouches for
   * of the epoch this process knew (-1: none), and the highest seq the reply handed out (noted as
   * seen, unless the reply is from an epoch this process already left: its seqs are not the
   * current epoch's). An epoch carried over whole (the base covers everything this process saw)
   * changes nothing for open streams; any other change ends them.
   */
  observe(epoch: string, head: number, base: number, seq = head): Observed {
    const observed = this.take(epoch, head, base);
    if (observed !== 'outdated') this.noteSeq(seq);
    return observed;
  }

  private take(epoch: string, head: number, base: number): Observed {
    const known = this.currentEpoch;
    if (known === epoch || known === undefined) {
      this.currentEpoch = epoch;
      this.noteSeq(head);
      return 'same';
    }
    // A reply that was on its way while another one brought the newer epoch.
    if (this.retired.includes(epoch)) return 'outdated';
    this.retired.push(known);
    if (this.retired.length > RETIRED_KEPT) this.retired.shift();
    this.currentEpoch = epoch;
    if (base >= 0 && this.seen <= base) {
      this.epochsCarriedOver++;
      this.noteSeq(head);
      return 'carried';
    }
    if (base >= 0) {
      // Redis carried the epoch over, but this process saw ids above its end: they were lost.
      // Nobody may resume from that epoch.
      this.renounce(known).catch((error: unknown) => this.runner.noteError(error));
    }
    this.seen = head;
    this.historyChanges++;
    this.historyChanged(head);
    return 'changed';
  }

  /**
   * The reader's check around a blocking read: the epoch vouched for before it (with the counter
   * and the base of the epoch this process knew) and the epoch read after it.
   */
  async confirm(
    before: string,
    after: string | null,
    head: number,
    base: number,
    seenBefore: number,
  ): Promise<Verdict> {
    // The history changed while the read blocked: the next read (and its vouching) tells how.
    if (before !== after) return 'retry';
    const observed = this.observe(before, head, base);
    if (observed === 'outdated') return 'retry';
    if (observed === 'changed') return 'changed';
    if (observed === 'same' && head < seenBefore) {
      // The counter went back although the same server still vouches for the epoch (the data
      // was edited or restored in place): ids above it were handed out already.
      await this.renounce(before);
      return 'changed';
    }
    return 'deliver';
  }

  /** Makes every id of `epoch` stale, in Redis, for every process. */
  private async renounce(epoch: string): Promise<void> {
    const conn = this.runner.conn;
    const [current, head] = (await this.runner.run('renounce an epoch', async () =>
      scripts.renounce.run(conn, this.keys.history, [
        newEpoch(),
        await durability(conn, this.durable),
        epoch,
      ]),
    )) as [string, number];
    this.observe(current, head, -1);
  }
}
