/** Joining stored frames into few, bounded Buffers for one write each. */
import type { StoredEvent } from '../store/replay-buffer.js';
import type { SseStream } from '../stream/sse-stream.js';

/**
 * Largest Buffer the hub hands a stream in one write. A tick's batch (or a replay) is cut into
 * pieces of at most this size, so the stream's byte bound applies whatever the batching: a
 * client that stops reading holds at most one piece in the socket plus `maxQueueBytes` queued.
 */
export const MAX_PIECE_BYTES = 256 * 1024;

/** Joins events' frames into as few Buffers as possible, each at most MAX_PIECE_BYTES (or one frame). */
export function joinPieces(events: StoredEvent[]): Buffer[] {
  if (events.length === 1) return [events[0]!.frame];
  const pieces: Buffer[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const size = events[i]!.frame.length;
    if (i > start && bytes + size > MAX_PIECE_BYTES) {
      pieces.push(concatFrames(events, start, i, bytes));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < events.length) pieces.push(concatFrames(events, start, events.length, bytes));
  return pieces;
}

function concatFrames(events: StoredEvent[], from: number, to: number, bytes: number): Buffer {
  if (to - from === 1) return events[from]!.frame;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = from; i < to; i++) at += events[i]!.frame.copy(out, at);
  return out;
}

/** Writes pieces in order; stops (false) once the stream refuses one (closed or overflowed). */
export function writeAll(stream: SseStream, pieces: Buffer[]): boolean {
  for (const piece of pieces) if (!stream.write(piece)) return false;
  return true;
}
