/**
 * A local stand-in for a language model: an async generator that yields an answer word by
 * word, with small random delays. No network, no real model.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const ANSWER = `Server-Sent Events keep one HTTP response open and let the server write small text
frames into it whenever it has something new. The browser's EventSource reads them as they
arrive, which makes it a natural fit for streaming a model's answer token by token. Here the
answer is a resumable run: the server consumes the model under a key, independently of any
connection, and keeps what it produced for a few minutes. When the connection drops, the page
asks again with the key and the id of the last word it has, and the server sends exactly what is
missing. Reload the page and it follows the same key from the start, so the whole answer is shown
once. Open the same address in a second tab and both show the same answer. When the reader
presses Stop, the server stops the run wherever it runs, and the generator producing these words
is finalised at once instead of running on for nobody.`;

/** The answer the model gives to `prompt`, in full: what a page shows once the run is done. */
export function answerFor(prompt) {
  return `You asked: "${prompt.trim() || 'nothing'}". ${ANSWER.replace(/\s+/g, ' ')}`;
}

/**
 * @param {{ minDelayMs?: number, maxDelayMs?: number, log?: (line: string) => void }} [options]
 */
export function createFakeModel({ minDelayMs = 25, maxDelayMs = 110, log = console.log } = {}) {
  // How many answers started, ran to the end, and were finalised (ended either way).
  const stats = { started: 0, completed: 0, finalised: 0 };

  /**
   * Yields the words of `answerFor(prompt)`. `signal` aborts the wait for the next word, so a
   * stopped answer ends at once, even while the generator is parked between two words. `key`
   * names the run in the log.
   *
   * @param {string} prompt
   * @param {{ signal?: AbortSignal, key?: string }} [options]
   */
  async function* generate(prompt, { signal, key = '-' } = {}) {
    stats.started++;
    let complete = false;
    try {
      for (const word of answerFor(prompt).match(/\S+\s*/g) ?? []) {
        await sleep(minDelayMs + Math.random() * (maxDelayMs - minDelayMs), undefined, { signal });
        yield word;
      }
      complete = true;
    } finally {
      // Runs exactly once: when the answer is complete, or when the run is stopped (the signal
      // aborts the wait, and the run calls return()).
      if (complete) stats.completed++;
      stats.finalised++;
      log(`[ai-tokens] model finalised ${key} (${complete ? 'answer complete' : 'stopped'})`);
    }
  }

  return { generate, answerFor, stats };
}
