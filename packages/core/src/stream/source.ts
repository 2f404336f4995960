/**
 * Reading a source (an async iterable or a Readable) until a signal aborts. When it aborts, an
 * iterator gets `return()` (a generator's `finally` runs) and a Readable is destroyed, once.
 */
import { Readable } from 'node:stream';

export async function* untilAborted<T>(
  source: AsyncIterable<T> | Readable,
  signal: AbortSignal,
): AsyncGenerator<T> {
  const readable = source instanceof Readable ? source : undefined;
  const iterator = (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  let finished = false;
  // One abort listener for the whole read, settling whichever step is pending (a listener added
  // and removed per step cost about a microsecond per value; racing each step against one
  // long-lived promise would leave a reaction behind per value).
  let wake: ((aborted: undefined) => void) | undefined;
  const onAbort = (): void => wake?.(undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (signal.aborted) break;
      const step = await new Promise<IteratorResult<T> | undefined>((resolve, reject) => {
        wake = resolve;
        iterator.next().then(resolve, reject);
      });
      wake = undefined;
      if (step === undefined) break;
      if (step.done) {
        finished = true;
        break;
      }
      yield step.value;
    }
  } catch (error) {
    finished = true;
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!finished) {
      if (readable) readable.destroy();
      // A generator parked on an await finishes once that await settles; don't wait for it.
      else if (iterator.return) Promise.resolve(iterator.return()).catch(() => {});
    }
  }
}
