/**
 * The one wait of the tests: `waitUntil(predicate, what, ms)`. Tests await conditions, not time:
 * a wait re-checks its predicate whenever what it watches reports a change (`Changes`), and
 * fails after `ms` with a message that names what it waited for.
 */

/** Something tests wait on: whoever changes it calls `changed()`, and every pending wait re-checks. */
export class Changes {
  private readonly listeners = new Set<() => void>();

  changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` after every change until the returned function is called. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface WaitOptions {
  /** Re-checks the predicate on these changes. Without it, the predicate is re-checked every 10 ms. */
  on?: Changes;
  /** What there is instead, for the time-out message (e.g. the last events received). */
  detail?: () => string;
}

/** Resolves once `predicate()` holds; rejects after `ms`, naming `what`. */
export function waitUntil(
  predicate: () => boolean,
  what: string,
  ms = 10_000,
  { on, detail }: WaitOptions = {},
): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!predicate()) return;
      stop();
      resolve();
    };
    const unsubscribe = on?.subscribe(check);
    const poll = on ? undefined : setInterval(check, 10);
    const timer = setTimeout(() => {
      stop();
      const instead = detail ? `; ${detail()}` : '';
      reject(new Error(`timed out after ${ms} ms waiting for ${what}${instead}`));
    }, ms);
    function stop(): void {
      unsubscribe?.();
      clearInterval(poll);
      clearTimeout(timer);
    }
  });
}
