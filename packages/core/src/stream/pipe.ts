/**
 * Piping a source (an async iterable, e.g. AI tokens, or a Readable) into a stream: one event per
 * value, paced by the client's reads, and the source stopped once when the client leaves.
 */
import { Readable } from 'node:stream';
import { encodeEvent, type Serializer, type SseEventInit } from '../wire/encode.js';
import { untilAborted } from './source.js';

export interface PipeOptions<T> {
  /** Turns a source value into an event. Default: the value is the event's data. */
  map?: (value: T) => SseEventInit;
}

/** What piping needs of a stream (SseStream is one). */
export interface PipeTarget {
  readonly closed: boolean;
  readonly serializer: Serializer;
  start(): void;
  write(frame: Buffer): boolean;
  drained(): Promise<void>;
  /** Aborts when the stream closes. */
  readonly signal: AbortSignal;
  fail(error: unknown): void;
}

export async function pipeSource<T>(
  stream: PipeTarget,
  source: AsyncIterable<T> | Readable,
  options: PipeOptions<T>,
): Promise<void> {
  const map =
    options.map ??
    ((value: T): SseEventInit => ({ data: Buffer.isBuffer(value) ? value.toString() : value }));
  // Checked before the headers: a source that can't be read is answered by the framework.
  if (!(source instanceof Readable) && typeof source?.[Symbol.asyncIterator] !== 'function')
    throw new TypeError('ssekit: pipe() needs an async iterable or a Readable');
  stream.start();
  try {
    for await (const value of untilAborted(source, stream.signal)) {
      stream.write(encodeEvent(map(value), stream.serializer));
      // Resolves at once unless the client is behind: a slow reader slows the source.
      await stream.drained();
    }
  } catch (error) {
    // A source that rejects because the client left (an aborted read) is not an error.
    if (!stream.closed) stream.fail(error);
  }
}
