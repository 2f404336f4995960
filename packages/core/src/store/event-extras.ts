/**
 * What a compact replay buffer (replay-buffer.ts) keeps beside its rows for some events only:
 * event types as one-byte codes, each of a channel's few types named once; and, rarely, what an
 * event has that isn't its buffer's norm (a hand-pushed event's own channel or id, or a type past
 * the code table).
 */

/** Type code of an event without a type. */
export const NO_TYPE = 0;
/** Type code meaning "see the event's odd values": the table is full. */
const ODD_TYPE = 255;

interface Odd {
  channel?: string;
  id?: string;
  event?: string;
}

export class EventExtras {
  private readonly codes = new Map<string, number>();
  private readonly names: string[] = [];
  /** By event index; made only if some event needs it. */
  private odd: Map<number, Odd> | undefined;

  /** The code to store for event `index`, of type `event`. */
  typeCode(index: number, event: string): number {
    let code = this.codes.get(event);
    if (code !== undefined) return code;
    // Bounded, so a channel of ever-new types can't grow it: past it, types are odd values.
    if (this.names.length >= ODD_TYPE - 1) {
      this.oddOf(index).event = event;
      return ODD_TYPE;
    }
    this.names.push(event);
    code = this.names.length;
    this.codes.set(event, code);
    return code;
  }

  typeOf(index: number, code: number): string | undefined {
    if (code === NO_TYPE) return undefined;
    return code === ODD_TYPE ? this.odd?.get(index)?.event : this.names[code - 1];
  }

  setChannel(index: number, channel: string): void {
    this.oddOf(index).channel = channel;
  }
  setId(index: number, id: string): void {
    this.oddOf(index).id = id;
  }
  /** The event's own channel and id, if it has any. */
  oddValues(index: number): Readonly<Odd> | undefined {
    return this.odd?.get(index);
  }

  /** The event was evicted. */
  forget(index: number): void {
    this.odd?.delete(index);
  }

  private oddOf(index: number): Odd {
    this.odd ??= new Map();
    let entry = this.odd.get(index);
    if (!entry) {
      entry = {};
      this.odd.set(index, entry);
    }
    return entry;
  }
}
