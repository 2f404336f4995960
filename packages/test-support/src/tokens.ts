/** A fake model's tokens, and how tests check a streamed answer: text exactly once, in order. */
import type { EventRecorder, ReceivedEvent } from './event-source.js';

export interface TokenOptions {
  /** Stops early when it aborts. */
  signal?: AbortSignal;
  /** Time between tokens: ms, or one event-loop turn (default). */
  every?: number;
  /** Runs once in the generator's `finally`. */
  onFinally?: () => void;
}

/** Tokens `t0 ... t{n-1} `, at a model's pace in miniature. */
export async function* tokens(n: number, options: TokenOptions = {}): AsyncGenerator<string> {
  const { signal, every, onFinally } = options;
  try {
    for (let i = 0; i < n && !signal?.aborted; i++) {
      await new Promise((resolve) =>
        every === undefined ? setImmediate(resolve) : setTimeout(resolve, every),
      );
      yield `t${i} `;
    }
  } finally {
    onFinally?.();
  }
}

/** The whole answer `tokens(n)` produces. */
export const tokenText = (n: number): string =>
  Array.from({ length: n }, (_, i) => `t${i} `).join('');

/** The text of the `message` events, concatenated. */
export const messageText = (events: readonly ReceivedEvent[]): string =>
  events
    .filter((e) => e.type === 'message')
    .map((e) => e.data)
    .join('');

/** A run's terminal event (`done`, `stopped`, or `error` with data: EventSource's own errors have none). */
export const terminalEvent = (events: readonly ReceivedEvent[]): ReceivedEvent | undefined =>
  events.find(
    (e) =>
      (e.type === 'error' && e.data !== 'undefined') || e.type === 'done' || e.type === 'stopped',
  );

/**
 * Cuts the client's connection `drops` times, each after 1 to 8 more events, until an event of
 * type `end` arrived; then waits for it. The client reconnects by itself each time.
 */
export async function dropAtRandom(
  client: EventRecorder,
  dropAll: () => void,
  { drops = 50, end = 'done' }: { drops?: number; end?: string } = {},
): Promise<void> {
  const ended = (): boolean => client.events.some((e) => e.type === end);
  for (let drop = 0; drop < drops && !ended(); drop++) {
    const seen = client.events.length;
    const more = 1 + Math.floor(Math.random() * 8);
    await client.until(
      () => client.events.length >= seen + more || ended(),
      `events before drop ${drop}`,
    );
    if (!ended()) dropAll();
  }
  await client.until(ended, end, 30_000);
}
