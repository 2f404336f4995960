/**
 * Reading a source (an async iterable or a Readable) until a signal aborts. When it aborts, an
 * iterator gets `return()` (a generator's `finally` runs) and a Readable is destroyed, once.
 */
import { Readable } from 'node:stream';

/**
 * The next value, or `undefined` once `signal` aborted. The abort listener lives for one step
 * only: racing every step against one long-lived promise would leave a reaction behind per value.
 */
function nextUnlessAborted<T>(
  iterator: AsyncIterator<T>,
  signal: AbortSignal,
): Promise<IteratorResult<T> | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (step) => {
        signal.removeEventListener('abort', onAbort);
        resolve(step);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export async function* untilAborted<T>(
  source: AsyncIterable<T> | Readable,
  signal: AbortSignal,
): AsyncGenerator<T> {
  const readable = source instanceof Readable ? source : undefined;
  const iterator = (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const step = await nextUnlessAborted(iterator, signal);
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
    if (!finished) {
      if (readable) readable.destroy();
      // A generator parked on an await finishes once that await settles; don't wait for it.
      else if (iterator.return) Promise.resolve(iterator.return()).catch(() => {});
    }
  }
}
