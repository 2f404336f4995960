/**
 * A channel's stored frames, packed into a few append-only slabs instead of one Buffer per event
 * (a Buffer costs ~100 bytes of heap, more than a typical token's frame). A frame never spans two
 * slabs, so reading one is a view, not a copy; bytes once written are never overwritten, so a view
 * handed out stays valid. Positions are virtual and only grow: slab `s` covers
 * `[s.base, s.base + s.bytes.length)`. The caller keeps each frame's end position.
 */

interface Slab {
  bytes: Buffer;
  base: number;
  /** Index of the first event written into it: a frame starting a slab starts at `base`. */
  first: number;
}

/** A new channel starts small (most hold a few events)... */
export const MIN_SLAB_BYTES = 256;
/** ...and slabs grow with what it holds, up to this; eviction frees whole slabs. */
export const MAX_SLAB_BYTES = 64 * 1024;

export class FrameSlabs {
  private slabs: Slab[] = [];
  /** Bytes written into the newest slab. */
  private used = 0;

  /** Slab bytes held, written or not. */
  get capacity(): number {
    let total = 0;
    for (const slab of this.slabs) total += slab.bytes.length;
    return total;
  }

  /** Writes event `index`'s frame as UTF-8 text of `length` bytes; returns its end position. */
  writeText(index: number, text: string, length: number, held: number): number {
    const slab = this.room(index, length, held);
    slab.bytes.write(text, this.used, length, 'utf8');
    this.used += length;
    return slab.base + this.used;
  }

  /** Copies event `index`'s frame in; returns its end position. */
  copy(index: number, frame: Buffer, held: number): number {
    const slab = this.room(index, frame.length, held);
    this.used += frame.copy(slab.bytes, this.used);
    return slab.base + this.used;
  }

  /** Event `index`'s frame, a view; `previousEnd` is the end of event `index - 1`. */
  frame(index: number, previousEnd: number, end: number): Buffer {
    const slabs = this.slabs;
    // The last slab whose first event is at or before `index`.
    let hi = slabs.length - 1;
    // The newest first: a just-appended frame (the live path) is there.
    let lo = slabs[hi]!.first <= index ? hi : 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (slabs[mid]!.first <= index) lo = mid;
      else hi = mid - 1;
    }
    const slab = slabs[lo]!;
    const start = slab.first === index ? slab.base : previousEnd;
    return slab.bytes.subarray(start - slab.base, end - slab.base);
  }

  /**
   * Where event `index` starts, given that `index - 1`, the oldest held, ends at `previousEnd`:
   * O(1), as the oldest event is always in the first slab (see `release`).
   */
  startOfNext(index: number, previousEnd: number): number {
    const next = this.slabs[1];
    return next && next.first === index ? next.base : previousEnd;
  }

  /** Frees the slabs that hold no event at or after `oldest` (every slab when `oldest` is past the last). */
  release(oldest: number, empty: boolean): void {
    if (empty) {
      this.slabs = [];
      this.used = 0;
      return;
    }
    let drop = 0;
    while (drop + 1 < this.slabs.length && this.slabs[drop + 1]!.first <= oldest) drop++;
    if (drop > 0) this.slabs.splice(0, drop);
  }

  /** The slab event `index`'s frame goes into: the newest, or a new one when it doesn't fit. */
  private room(index: number, length: number, held: number): Slab {
    const last = this.slabs[this.slabs.length - 1];
    if (last && this.used + length <= last.bytes.length) return last;
    // Half of what the channel holds: slabs grow by ~1.5x, so at most about a third is unused.
    const size = Math.max(
      length,
      Math.min(MAX_SLAB_BYTES, Math.max(MIN_SLAB_BYTES, Math.floor(held / 2))),
    );
    const base = last ? last.base + last.bytes.length : 0;
    const slab: Slab = { bytes: Buffer.allocUnsafeSlow(size), base, first: index };
    this.slabs.push(slab);
    this.used = 0;
    return slab;
  }
}
