/** N raw SSE clients opened together, and "wait until every one has K more events". */
import { nowMicros, SseClient } from './sse-client.mjs';

export class ClientGroup {
  constructor(port) {
    this.port = port;
    this.clients = [];
    this.waiting = undefined;
    this.unexpectedClose = undefined;
  }

  /** Opens `n` clients, at most `concurrency` connecting at a time (all at once by default). */
  async open(n, { lastEventId, concurrency = 256, paused = false } = {}) {
    const opened = [];
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const client = new SseClient({
          port: this.port,
          lastEventId,
          onProgress: (c) => this.progress(c),
          onClose: (c) => this.closedEarly(c),
        });
        if (paused) client.paused = true;
        if (this.newClientTarget !== undefined) client.target = this.newClientTarget;
        await client.connect();
        if (paused) client.pause();
        opened.push(client);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    this.clients.push(...opened);
    return opened;
  }

  /** The clients that read (not the deliberately paused ones). */
  get readers() {
    return this.clients.filter((c) => !c.paused);
  }

  /**
   * Arms a wait for `perClient` more events on every reader. Call before triggering the publish;
   * the returned promise resolves to the µs time when the last reader got its last event.
   */
  expect(perClient, timeoutMs) {
    const readers = this.readers;
    for (const c of readers) {
      c.target = c.count + perClient;
      c.done = false;
    }
    const caughtUp = this.waitForDone(readers.length, timeoutMs, (remaining) => {
      const counts = readers.map((c) => c.count - (c.target - perClient));
      return (
        `timed out after ${timeoutMs} ms waiting for ${perClient} events on ${readers.length} clients: ` +
        `${remaining} not done, received min ${Math.min(...counts)} max ${Math.max(...counts)}`
      );
    });
    if (readers.length === 0) this.waiting.done({});
    return caughtUp;
  }

  /**
   * For clients about to be opened (a reconnect storm): resolves when `n` of them have `total`
   * events each, counted from their first byte, so a replay racing `open()` is still counted.
   */
  expectFromOpen(total, n, timeoutMs) {
    this.newClientTarget = total;
    return this.waitForDone(
      n,
      timeoutMs,
      (remaining) =>
        `timed out after ${timeoutMs} ms: ${remaining} of ${n} reconnecting clients not caught up`,
      () => {
        this.newClientTarget = undefined;
      },
    );
  }

  /**
   * Arms `this.waiting`: resolves to the µs time when `count` clients have reported done (then
   * runs `onCaughtUp`), rejects on `waiting.fail(error)` or with `timeoutMessage(remaining)`.
   */
  waitForDone(count, timeoutMs, timeoutMessage, onCaughtUp) {
    let remaining = count;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(timeoutMessage(remaining)));
      }, timeoutMs);
      this.waiting = {
        done: (client) => {
          client.done = true;
          remaining--;
          if (remaining === 0) {
            clearTimeout(timer);
            this.waiting = undefined;
            onCaughtUp?.();
            resolve(nowMicros());
          }
        },
        fail: (error) => {
          clearTimeout(timer);
          this.waiting = undefined;
          reject(error);
        },
      };
    });
  }

  progress(client) {
    if (this.waiting && !client.done && client.count >= client.target) this.waiting.done(client);
  }

  closedEarly(client) {
    if (client.paused || client.expectedClose) return;
    const error = new Error(`a reading client was closed by the server (count ${client.count})`);
    this.unexpectedClose ??= error;
    this.waiting?.fail(error);
  }

  /** Every reader got exactly `count` events in total and last saw seq `lastSeq`. */
  verify(count, lastSeq) {
    const problems = [];
    for (const c of this.readers) {
      if (c.count !== count || c.lastSeq !== lastSeq)
        problems.push(`count ${c.count}/${count}, last seq ${c.lastSeq}/${lastSeq}`);
    }
    if (this.unexpectedClose) problems.push(this.unexpectedClose.message);
    return problems;
  }

  setLatencySink(sink) {
    for (const c of this.readers) c.latencySink = sink;
  }

  close() {
    for (const c of this.clients) {
      c.expectedClose = true;
      c.destroy();
    }
    this.clients = [];
  }
}
