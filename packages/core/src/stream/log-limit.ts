/**
 * One rate limit for every log line ssekit prints on its own (errors after a stream started,
 * "store unavailable"): during an outage every client fails the same way, so without it a
 * process would print a line per client per second.
 */

/** At most one line per key per this interval. */
export const LOG_INTERVAL_MS = 10_000;
/** Keys remembered at once; past it, lines share one overflow key (the limit stays bounded). */
const MAX_KEYS = 100;

export class LogLimiter {
  private readonly keys = new Map<string, { last: number; suppressed: number }>();

  constructor(readonly intervalMs: number = LOG_INTERVAL_MS) {}

  /**
   * Whether a line with this key may be printed now: undefined when not (it is counted), else the
   * number of lines with this key held back since the last one printed (to say so in the line).
   */
  take(key: string, now: number = Date.now()): number | undefined {
    let entry = this.keys.get(key);
    if (!entry) {
      if (this.keys.size >= MAX_KEYS) {
        // Forget the stalest keys rather than grow: an old key's next line is printed again.
        for (const [name, seen] of this.keys)
          if (now - seen.last >= this.intervalMs) this.keys.delete(name);
        if (this.keys.size >= MAX_KEYS) key = '(other)';
      }
      entry = this.keys.get(key);
      if (!entry) {
        this.keys.set(key, { last: now, suppressed: 0 });
        return 0;
      }
    }
    if (now - entry.last < this.intervalMs) {
      entry.suppressed++;
      return undefined;
    }
    const suppressed = entry.suppressed;
    entry.last = now;
    entry.suppressed = 0;
    return suppressed;
  }
}

/** The process-wide limiter, for lines of no adapter (an adapter keeps one per app). */
export const logLimiter = new LogLimiter();

/**
 * A key for an error: what a line says of it (its code or class and the start of its message).
 * Clients failing the same way share one key; distinct failures each get their line.
 */
export function errorKey(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
    const kind = typeof code === 'string' || typeof code === 'number' ? String(code) : String(name);
    return `${kind}:${String(message).slice(0, 100)}`;
  }
  return String(error).slice(0, 100);
}

/**
 * Prints `line` through `print` unless a line with the same `key` went out within the interval
 * (of `limiter`, default the process-wide one). The next line printed says how many were held
 * back. Returns whether it printed.
 */
export function limitedLog(
  key: string,
  line: string,
  print: (line: string) => void,
  limiter: LogLimiter = logLimiter,
): boolean {
  const suppressed = limiter.take(key);
  if (suppressed === undefined) return false;
  print(suppressed > 0 ? `${line} (${suppressed} more like this since the last line)` : line);
  return true;
}
