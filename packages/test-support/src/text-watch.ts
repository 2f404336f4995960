/** Accumulates text as it arrives and lets a test wait until the text satisfies a condition. */
import { Changes, waitUntil } from './wait.js';

export class TextWatch {
  text = '';
  private readonly changes = new Changes();

  append(chunk: string): void {
    this.text += chunk;
    this.changes.changed();
  }

  /** Resolves once the accumulated text satisfies `test`; rejects after `ms`. */
  until(test: (text: string) => boolean, what = 'the text', ms?: number): Promise<void> {
    return waitUntil(() => test(this.text), what, ms, {
      on: this.changes,
      detail: () => `have ${JSON.stringify(this.text.slice(-200))}`,
    });
  }

  /** Resolves once `needle` has arrived at least `times` times. */
  untilCount(needle: string, times: number, ms?: number): Promise<void> {
    return this.until(
      (text) => text.split(needle).length - 1 >= times,
      `${times} × ${JSON.stringify(needle)}`,
      ms,
    );
  }
}
