/**
 * The runs bench's client: one follower of one run. It POSTs /chat (the answer comes back as the
 * response), parses the SSE frames, checks every token's index (no duplicate, none missing), and
 * records its times; optionally it cuts its socket after given tokens and resumes, the way each
 * contender allows:
 *
 * - `resume: 'id'` (ssekit): `GET /chat/:key` with `Last-Event-ID` of the last token it got;
 *   the answer ends with one `done` event.
 * - `resume: 'chars'` (resumable-stream): `GET /chat/:key?resumeAt=<characters received>`;
 *   the answer ends when the stream ends.
 * - `resume: 'none'` (plain pipe): no resume; the answer ends when the stream ends.
 */
import http from 'node:http';
import { APP_RECEIVED_HEADER, answerText } from './runs-tokens.mjs';
import { nowMicros } from './sse-client.mjs';

/** Shared sinks for one phase: per-token latency and lag, per-run TTFT and resume times (µs). */
export function createSinks() {
  return {
    latency: [],
    lag: [],
    ttft: [],
    // Time to first token split at the app receiving the POST: before it, and from it.
    reach: [],
    fromApp: [],
    resume: [],
    tokens: 0,
    replayed: 0,
  };
}

export class RunFollower {
  /**
   * @param {object} o
   * @param {number} o.port where to POST
   * @param {number} [o.resumePort] where to resume (another process, through Redis); default `port`
   * @param {string} o.key
   * @param {number} o.n tokens
   * @param {number} o.interval ms between tokens
   * @param {'id'|'chars'|'none'} o.resume
   * @param {number[]} [o.cuts] token indices after which the socket is cut (ascending)
   * @param {ReturnType<typeof createSinks>} o.sinks
   * @param {(t: number) => boolean} [o.skipTiming] true for receive times (µs) to leave out of latency
   */
  constructor(o) {
    this.o = o;
    this.next = 0;
    this.texts = [];
    this.ids = [];
    this.charsAt = [];
    this.chars = 0;
    this.lastId = undefined;
    this.terminal = undefined;
    this.cuts = [...(o.cuts ?? [])];
    this.resumes = 0;
    this.buffer = '';
    this.postedAt = 0;
    this.appReceivedAt = undefined;
    this.resumedAt = 0;
    this.problems = [];
  }

  /** Resolves when the answer ended (checked with `verify()`); rejects on a transport failure. */
  run() {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.postedAt = nowMicros();
      const { key, n, interval } = this.o;
      this.connect(
        this.o.port,
        'POST',
        `/chat?key=${encodeURIComponent(key)}&n=${n}&interval=${interval}`,
        {},
      );
    });
  }

  connect(port, method, path, headers) {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path,
      agent: false,
      headers: { accept: 'text/event-stream', ...headers },
    });
    this.req = req;
    let cut = false;
    req.on('response', (res) => {
      this.status = res.statusCode;
      const appReceived = Number(res.headers[APP_RECEIVED_HEADER]);
      if (method === 'POST' && appReceived > 0) this.appReceivedAt = appReceived;
      if (res.statusCode !== 200) {
        res.resume();
        if (method === 'GET') this.refused = res.statusCode;
        this.fail(new Error(`${method} ${path}: status ${res.statusCode}`));
        return;
      }
      res.setEncoding('latin1');
      res.on('data', (text) => {
        if (cut) return;
        if (this.onText(text)) {
          cut = true;
          req.destroy();
          this.resume();
        }
      });
      res.on('end', () => {
        if (!cut) this.ended();
      });
      res.on('error', () => {});
    });
    req.on('error', (error) => {
      if (!cut) this.fail(error);
    });
    req.end();
  }

  /** Parses what arrived; true when the socket is to be cut now (after a token in `cuts`). */
  onText(text) {
    this.buffer += text;
    let start = 0;
    for (;;) {
      const end = this.buffer.indexOf('\n\n', start);
      if (end === -1) break;
      const frame = this.buffer.slice(start, end);
      start = end + 2;
      this.chars += frame.length + 2;
      if (this.onFrame(frame)) {
        this.buffer = '';
        return true;
      }
    }
    this.buffer = this.buffer.slice(start);
    return false;
  }

  /** One frame; true when the socket is to be cut after it. */
  onFrame(frame) {
    let id;
    let event;
    let data;
    for (const line of frame.split('\n')) {
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    }
    if (data === undefined) return false;
    if (event !== undefined && event !== 'message') {
      if (event === 'done' || event === 'stopped' || event === 'error') {
        if (this.terminal !== undefined) this.problems.push(`second terminal event ${event}`);
        this.terminal = event;
        this.terminalData = data;
      }
      return false;
    }
    const now = nowMicros();
    const [tokenText, index, scheduled, yielded] = data.split('|');
    const i = Number(index);
    if (this.terminal !== undefined) this.problems.push(`token ${i} after the terminal event`);
    if (i !== this.next) {
      this.problems.push(
        i < this.next ? `duplicate token ${i}` : `tokens ${this.next}-${i - 1} missing`,
      );
      // Go on from what arrived, so one gap is one problem.
      if (i < this.next) return false;
    }
    this.next = i + 1;
    this.texts.push(tokenText);
    if (this.o.resume !== 'none') {
      this.ids.push(id);
      this.charsAt.push(this.chars);
      this.lastId = id;
    }
    const sinks = this.o.sinks;
    sinks.tokens++;
    if (i === 0) {
      sinks.ttft.push(now - this.postedAt);
      if (this.appReceivedAt !== undefined) {
        sinks.reach.push(this.appReceivedAt - this.postedAt);
        sinks.fromApp.push(now - this.appReceivedAt);
      }
    }
    if (this.resumedAt !== 0) {
      sinks.resume.push(now - this.resumedAt);
      this.resumedAt = 0;
    }
    if (this.replaying) sinks.replayed++;
    else if (!this.o.skipTiming?.(now)) {
      sinks.latency.push(now - Number(yielded));
      sinks.lag.push(now - Number(scheduled));
    }
    if (this.cuts.length > 0 && i >= this.cuts[0]) {
      this.cuts.shift();
      return true;
    }
    return false;
  }

  /** Reconnects right away: Last-Event-ID or a character offset. */
  resume() {
    this.resumes++;
    this.resumedAt = nowMicros();
    // Tokens that arrive on a resumed connection are partly replayed history: their latency
    // says how fast the resume was, not how fast tokens flow, so they are kept out of it.
    this.replaying = true;
    const port = this.o.resumePort ?? this.o.port;
    const path = `/chat/${encodeURIComponent(this.o.key)}`;
    if (this.o.resume === 'id') this.connect(port, 'GET', path, { 'last-event-id': this.lastId });
    else if (this.o.resume === 'chars')
      this.connect(port, 'GET', `${path}?resumeAt=${this.chars}`, {});
    else this.fail(new Error('this contender cannot resume'));
  }

  ended() {
    this.done = true;
    this.resolve?.(this);
  }

  fail(error) {
    this.error = error;
    this.reject?.(error);
    this.resolve = undefined;
    this.reject = undefined;
  }

  /** What is wrong with the answer as received (empty when exact). */
  verify() {
    const problems = [...this.problems];
    const { key, n } = this.o;
    if (this.next !== n) problems.push(`ended after ${this.next} of ${n} tokens`);
    if (this.o.resume !== 'chars' && this.terminal !== 'done')
      problems.push(
        `terminal event ${this.terminal ?? '(none)'}${this.terminalData ? ` ${this.terminalData}` : ''}, expected done`,
      );
    if (this.texts.join('') !== answerText(key, n)) problems.push('text differs from the source');
    if (this.cuts.length > 0) problems.push(`${this.cuts.length} cut(s) not made`);
    return problems.map((p) => `${key}: ${p}`);
  }
}

/**
 * A follower that arrives after the run finished, asking for the second half: ssekit with the
 * Last-Event-ID of the middle token, resumable-stream with the character offset of it. Resolves
 * `{ status, exact }`.
 */
export function lateFollow({ port, key, n, resume, lastEventId, resumeAt }) {
  return new Promise((resolve, reject) => {
    const path =
      resume === 'id'
        ? `/chat/${encodeURIComponent(key)}`
        : `/chat/${encodeURIComponent(key)}?resumeAt=${resumeAt}`;
    const headers = resume === 'id' ? { 'last-event-id': lastEventId } : {};
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (t) => {
        body += t;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          resolve({ status: res.statusCode, exact: false });
          return;
        }
        const follower = new RunFollower({
          port,
          key,
          n,
          interval: 0,
          resume,
          sinks: createSinks(),
        });
        follower.next = Math.floor(n / 2);
        follower.onText(body);
        const want = answerText(key, n).slice(answerText(key, Math.floor(n / 2)).length);
        const exact =
          follower.problems.length === 0 &&
          follower.next === n &&
          follower.texts.join('') === want &&
          (resume !== 'id' || follower.terminal === 'done');
        resolve({ status: res.statusCode, exact });
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('late follower: timed out')));
  });
}
