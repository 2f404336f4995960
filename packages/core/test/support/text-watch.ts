/** Accumulates text as it arrives and lets a test wait until the text satisfies a condition. */
export class TextWatch {
  text = '';
  private readonly waiters: Array<{ test: (text: string) => boolean; resolve: () => void }> = [];

  append(chunk: string): void {
    this.text += chunk;
    for (const waiter of [...this.waiters]) {
      if (waiter.test(this.text)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Resolves once the accumulated text satisfies `test`. */
  until(test: (text: string) => boolean): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  /** Resolves once `needle` has arrived at least `times` times. */
  untilCount(needle: string, times: number): Promise<void> {
    return this.until((text) => text.split(needle).length - 1 >= times);
  }
}
