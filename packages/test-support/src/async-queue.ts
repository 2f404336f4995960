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
