/** Turning stream entries (as ioredis returns them) into the hub's stored events. */
import { formatEventId, type StoredEvent, storedFrame } from '@ssekit/core/store';

/** `[id, [field, value, ...]]`, as XRANGE and XREAD return an entry. */
export type RawEntry = [id: string, fields: string[]];

export interface EntryFields {
  /** The encoded body; absent on a close marker. */
  body: string | undefined;
  event: string | undefined;
  time: number;
  /** Seq of the channel's previous entry, as a decimal string. */
  prev: string | undefined;
  /** A close marker: the channel was closed. */
  closed: boolean;
  /** On a close marker: the closer's final frame, if any. */
  final: string | undefined;
}

export function readFields(fields: string[]): EntryFields {
  const out: EntryFields = {
    body: undefined,
    event: undefined,
    time: 0,
    prev: undefined,
    closed: false,
    final: undefined,
  };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!;
    switch (fields[i]) {
      case 'b':
        out.body = value;
        break;
      case 'e':
        out.event = value;
        break;
      case 't':
        out.time = Number(value);
        break;
      case 'p':
        out.prev = value;
        break;
      case 'x':
        out.closed = true;
        break;
      case 'f':
        out.final = value;
        break;
    }
  }
  return out;
}

/** An event this process appends: what its reader needs to deliver it without a read back. */
export interface OwnAppend {
  channel: string;
  body: string;
  event: string | undefined;
}

/** `'<seq>-0'` -> its seq as a decimal string. */
export function seqTextOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? streamId : streamId.slice(0, dash);
}

export function seqOf(streamId: string): number {
  return Number(seqTextOf(streamId));
}

/** Builds the event with its complete frame; done once per event per process. */
export function toStoredEvent(
  channel: string,
  epoch: string,
  seq: number,
  fields: EntryFields,
): StoredEvent {
  const id = formatEventId(epoch, seq);
  return {
    channel,
    id,
    seq,
    event: fields.event,
    frame: storedFrame(id, fields.body ?? ''),
    time: fields.time,
  };
}
