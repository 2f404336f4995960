/**
 * The seqs a run's producer reserved in Redis (one INCRBY per block): while it writes its run's
 * channel alone, each event takes its id here as it is made, so this process's followers get it
 * at once, and the append that stores it under that id goes in the next batch. See "A run's ids
 * are reserved by its producer" in docs/decisions.md.
 */

/** Seqs reserved at a time; the next block is asked for when fewer than a quarter are left. */
export const RESERVED_BLOCK = 512;

export interface TakenSeq {
  seq: number;
  /** The seq this process gave the channel's previous event. */
  prev: number;
  epoch: string;
  /** Delivered to this process's followers as it was made (set by the store). */
  delivered: boolean;
}

export class RunWriter {
  /** Reserved blocks, oldest first: [next, last]. */
  private readonly blocks: Array<[next: number, last: number]> = [];
  private left = 0;
  /** A block was asked for and has not come back. */
  reserving = false;

  constructor(
    readonly channel: string,
    readonly epoch: string,
    /** The seq of the channel's last event made here (the start marker at first). */
    public last: number,
    next: number,
    lastReserved: number,
  ) {
    this.add(next, lastReserved);
  }

  add(next: number, last: number): void {
    // Only ever after the seqs already given and held (a later INCRBY is larger, unless the
    // counter went back, and then the epoch changed and this writer is dropped).
    const held = this.blocks.at(-1)?.[1] ?? this.last;
    if (next > last || next <= held || next <= this.last) return;
    this.blocks.push([next, last]);
    this.left += last - next + 1;
  }

  /** Whether it is time to ask for the next block. */
  get low(): boolean {
    return !this.reserving && this.left < RESERVED_BLOCK / 4;
  }

  /** The next reserved seq, or undefined when none is left. */
  take(): TakenSeq | undefined {
    const block = this.blocks[0];
    if (!block) return undefined;
    const seq = block[0];
    if (seq === block[1]) this.blocks.shift();
    else block[0] = seq + 1;
    this.left--;
    const prev = this.last;
    this.last = seq;
    return { seq, prev, epoch: this.epoch, delivered: false };
  }
}
