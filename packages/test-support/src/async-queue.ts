/** A queue whose `next()` waits for the next pushed value: lets tests await events, not time. */
export class AsyncQueue<T> {
  private readonly values: T[] = [];
  private readonly waiters: Array<(value: T) => void> = [];

  push(value: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(value);
    else this.values.push(value);
  }

  next(): Promise<T> {
    if (this.values.length > 0) return Promise.resolve(this.values.shift()!);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Values pushed and not yet taken. */
  get pending(): readonly T[] {
    return this.values;
  }
}

/**
 * A run source that yields what the test pushes on `queue`, and ends on `null` or when the run
 * aborts; counts its `finally` in `finalised`.
 */
export function queuedSource(queue: AsyncQueue<string | null>, finalised: { count: number }) {
  return async function* (signal: AbortSignal): AsyncGenerator<string> {
    try {
      const aborted = new Promise<null>((resolve) =>
        signal.addEventListener('abort', () => resolve(null), { once: true }),
      );
      for (;;) {
        const next = await Promise.race([queue.next(), aborted]);
        if (next === null || signal.aborted) return;
        yield next;
      }
    } finally {
      finalised.count++;
    }
  };
}
