/**
 * Piping a source (an async iterable, e.g. AI tokens, or a Readable) into a stream: one event per
 * value, paced by the client's reads, and the source stopped once when the client leaves.
 */
import { Readable } from 'node:stream';
import { encodeEvent, type Serializer, type SseEventInit } from '../wire/encode.js';

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
  whenClosed(): Promise<symbol>;
  fail(error: unknown): void;
}

export async function pipeSource<T>(
  stream: PipeTarget,
  source: AsyncIterable<T> | Readable,
  options: PipeOptions<T>,
): Promise<void> {
  const readable = source instanceof Readable ? source : undefined;
  const iterator = (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  let done = false;
  const stop = (): void => {
    if (done) return;
    done = true;
    if (readable) readable.destroy();
    // A generator parked on an await finishes once that await settles; don't wait for it.
    else if (iterator.return) Promise.resolve(iterator.return()).catch(() => {});
  };
  const map =
    options.map ??
    ((value: T): SseEventInit => ({ data: Buffer.isBuffer(value) ? value.toString() : value }));
  stream.start();
  try {
    while (!stream.closed) {
      const step = await Promise.race([iterator.next(), stream.whenClosed()]);
      if (typeof step === 'symbol' || stream.closed) break;
      if (step.done) {
        done = true;
        break;
      }
      stream.write(encodeEvent(map(step.value), stream.serializer));
      // Resolves at once unless the client is behind: a slow reader slows the source.
      await stream.drained();
    }
  } catch (error) {
    done = true;
    // A source that rejects because the client left (an aborted read) is not an error.
    if (!stream.closed) stream.fail(error);
  } finally {
    stop();
  }
}
