/** Turning the READ_AFTER script's reply into the hub's ReplayResult. */
import {
  type ChannelGap,
  formatEventId,
  type GapReason,
  mergeBySeq,
  type ReplayResult,
  type StoredEvent,
} from '@ssekit/core/store';
import { type RawEntry, readFields, seqOf, toStoredEvent } from './entries.js';

/** { epoch, head, base, reason, then per channel: evicted floor, oldest entry id, entries }. */
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
  const snapshot = { headId: head > 0 ? formatEventId(epoch, head) : null, headSeq: head };
  if (fresh) return { events: [], ...snapshot };
  // Whatever applies to the id itself (stale, unknown) applies to every channel.
  const shared = (replyReason || undefined) as GapReason | undefined;
  const after = shared === undefined ? afterSeq : 0;
  const runs: StoredEvent[][] = [];
  const detail: Record<string, ChannelGap> = {};
  let oldest = Number.POSITIVE_INFINITY;
  channels.forEach((channel, i) => {
    const floor = Number(reply[4 + i * 3]);
    const first = reply[5 + i * 3] as string;
    const entries = reply[6 + i * 3] as RawEntry[];
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
