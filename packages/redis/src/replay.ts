/** Turning the READ_AFTER script's reply into the hub's ReplayResult. */
import {
  type ChannelGap,
  formatEventId,
  type GapReason,
  isRunChannel,
  mergeBySeq,
  type ReplayResult,
  type StoredEvent,
} from '@ssekit/core/store';
import { type RawEntry, readFields, seqOf, toStoredEvent } from './entries.js';

/** { epoch, head, base, reason, then per channel: evicted floor, oldest entry id, entries, last seq }. */
export type ReadAfterReply = [
  epoch: string,
  head: number,
  base: number,
  reason: string,
  ...perChannel: unknown[],
];

/**
 * `fresh`: the client sent no id (the reply then holds only the head). `afterSeq`: the seq of its
 * id, when that id is a position in the current history (the reply's reason is then empty).
 */
export function replayResult(
  reply: ReadAfterReply,
  channels: readonly string[],
  fresh: boolean,
  afterSeq: number,
): ReplayResult {
  const [epoch, head, , replyReason] = reply;
  // A run's producer reserves its seqs (runs/run-writer.ts): it may store events under seqs
  // below the counter after this read. Its channel is followed alone, in the channel's order, so
  // what the read covers is up to the channel's last entry, not up to the counter.
  // (Or up to the client's own id, if it is a position here: it may have got an event from the
  // producer's process before that was stored, and must not get it twice.)
  // Whatever applies to the id itself (stale, unknown) applies to every channel.
  const shared = (replyReason || undefined) as GapReason | undefined;
  const after = shared === undefined ? afterSeq : 0;
  const run = runOnly(channels);
  const covered = !run
    ? head
    : fresh
      ? Number(reply[4] ?? head)
      : Math.max(Number(reply[7]), after);
  // (Also the id a gap signal gives the client: it must not resume past a token not stored yet.)
  // A fresh read always gets a position, even before the first event (core's store.ts, `headId`).
  const headId = covered > 0 || fresh ? formatEventId(epoch, covered) : null;
  const snapshot = { headId, headSeq: covered };
  if (fresh) return { events: [], ...snapshot };
  const runs: StoredEvent[][] = [];
  const detail: Record<string, ChannelGap> = {};
  let oldest = Number.POSITIVE_INFINITY;
  channels.forEach((channel, i) => {
    const floor = Number(reply[4 + i * 4]);
    const first = reply[5 + i * 4] as string;
    const entries = reply[6 + i * 4] as RawEntry[];
    detail[channel] = {
      reason: shared ?? (floor > after ? 'evicted' : null),
      oldestId: first === '' ? null : formatEventId(epoch, seqOf(first)),
    };
    if (first !== '') oldest = Math.min(oldest, seqOf(first));
    const run: StoredEvent[] = [];
    for (const [id, fields] of entries) {
      const entry = readFields(fields);
      if (!entry.closed) run.push(toStoredEvent(channel, epoch, seqOf(id), entry));
    }
    runs.push(run);
  });
  const events = mergeBySeq(runs);
  const reason =
    shared ?? (Object.values(detail).some((d) => d.reason !== null) ? 'evicted' : undefined);
  if (reason === undefined) return { events, ...snapshot };
  const oldestId = Number.isFinite(oldest) ? formatEventId(epoch, oldest) : null;
  return { events, gap: { reason, oldestId, channels: detail }, ...snapshot };
}

/** A read of one run's channel alone (the only way a run is followed): see `covered` above. */
export function runOnly(channels: readonly string[]): boolean {
  return channels.length === 1 && isRunChannel(channels[0]!);
}
