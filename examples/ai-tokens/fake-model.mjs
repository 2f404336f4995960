/**
 * A local stand-in for a language model: an async generator that yields an answer word by
 * word, with small random delays. No network, no real model.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const ANSWER = `Server-Sent Events keep one HTTP response open and let the server write small text
frames into it whenever it has something new. The browser's EventSource reads them as they
arrive, which makes it a natural fit for streaming a model's answer token by token. When the
connection drops, the browser reconnects by itself and sends the id of the last event it saw, so
a server that keeps a short history can resume exactly where the client left off. There is no
handshake, no extra protocol and no library on the page: a plain GET request, a content type of
text/event-stream, and lines that start with data. When the reader presses Stop, the browser
closes the request, the server notices, and the generator producing these words is finalised at
once instead of running on for nobody.`;

/**
 * @param {{ minDelayMs?: number, maxDelayMs?: number, log?: (line: string) => void }} [options]
 */
export function createFakeModel({ minDelayMs = 25, maxDelayMs = 110, log = console.log } = {}) {
  // How many answers started, ran to the end, and were finalised (ended either way).
  const stats = { started: 0, completed: 0, finalised: 0 };

  /**
   * Yields the answer's words. `signal` aborts the wait for the next word, so a stopped answer
   * ends at once, even while the generator is parked between two words.
   *
   * @param {string} prompt
   * @param {{ signal?: AbortSignal }} [options]
   */
  async function* generate(prompt, { signal } = {}) {
    stats.started++;
    let complete = false;
    try {
      const text = `You asked: "${prompt.trim() || 'nothing'}". ${ANSWER.replace(/\s+/g, ' ')}`;
      for (const word of text.match(/\S+\s*/g) ?? []) {
        await sleep(minDelayMs + Math.random() * (maxDelayMs - minDelayMs), undefined, { signal });
        yield word;
      }
      complete = true;
    } finally {
      // Runs when the answer is complete, and when the client left (return() or the abort).
      if (complete) stats.completed++;
      stats.finalised++;
      log(`generator finalised (${complete ? 'answer complete' : 'stopped by the client'})`);
    }
  }

  return { generate, stats };
}
