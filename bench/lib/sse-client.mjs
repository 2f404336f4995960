/**
 * A deliberately cheap SSE client for the driver: one node:net socket, a hand-written HTTP/1.1
 * request, and no event parsing on the hot path. Every payload ends in `<seq> <sendMicros>~`
 * and nothing else contains `~`, so counting `~` bytes counts events whatever the framing
 * (chunked encoding, JSON-quoted data, extra retry/heartbeat frames). Seq and timestamp are read
 * backwards from a `~` only when needed: once per chunk for the last seq, per event for latency.
 */
import net from 'node:net';

const TILDE = 0x7e;
const SPACE = 0x20;
const HEADER_END = Buffer.from('\r\n\r\n');

export function nowMicros() {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Reads `<seq> <micros>~` backwards from the `~` at `at`. Returns null if the digits are cut off. */
export function readTail(buf, at) {
  let i = at - 1;
  let micros = 0;
  let scale = 1;
  while (i >= 0 && buf[i] >= 0x30 && buf[i] <= 0x39) {
    micros += (buf[i] - 0x30) * scale;
    scale *= 10;
    i--;
  }
  if (i < 0 || buf[i] !== SPACE || scale === 1) return null;
  i--;
  let seq = 0;
  scale = 1;
  while (i >= 0 && buf[i] >= 0x30 && buf[i] <= 0x39) {
    seq += (buf[i] - 0x30) * scale;
    scale *= 10;
    i--;
  }
  if (i < 0 || buf[i] !== SPACE || scale === 1) return null;
  return { seq, micros };
}

export class SseClient {
  /**
   * @param {object} options
   * @param {number} options.port
   * @param {string} [options.lastEventId]
   * @param {(client: SseClient) => void} [options.onProgress] called after each chunk that had events
   */
  constructor(options) {
    this.options = options;
    this.count = 0;
    this.lastSeq = 0;
    this.status = 0;
    this.closed = false;
    this.error = undefined;
    this.socket = undefined;
    this.headerBytes = [];
    this.prev = Buffer.alloc(0);
    this.target = Number.POSITIVE_INFINITY;
    this.done = false;
    /** While set, every event's publish-to-receive time (µs) is pushed here. */
    this.latencySink = undefined;
  }

  /** Resolves once the response headers arrived with status 200. */
  connect() {
    const { port, lastEventId } = this.options;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      this.socket = socket;
      let headersDone = false;
      socket.on('connect', () => {
        socket.write(
          `GET /sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n` +
            (lastEventId !== undefined ? `Last-Event-ID: ${lastEventId}\r\n` : '') +
            '\r\n',
        );
      });
      socket.on('data', (chunk) => {
        if (headersDone) {
          this.onBody(chunk);
          return;
        }
        this.headerBytes.push(chunk);
        const head = Buffer.concat(this.headerBytes);
        const end = head.indexOf(HEADER_END);
        if (end === -1) {
          if (head.length > 64 * 1024) socket.destroy(new Error('response head too large'));
          return;
        }
        headersDone = true;
        this.headerBytes = [];
        this.status = Number(head.subarray(9, 12).toString('latin1'));
        if (this.status !== 200) {
          socket.destroy();
          reject(new Error(`status ${this.status}`));
          return;
        }
        resolve(this);
        if (head.length > end + 4) this.onBody(head.subarray(end + 4));
      });
      socket.on('error', (error) => {
        this.error = error;
        if (!headersDone) reject(error);
      });
      socket.on('close', () => {
        this.closed = true;
        if (!headersDone) reject(new Error('closed before headers'));
        this.options.onClose?.(this);
      });
    });
  }

  onBody(chunk) {
    let at = chunk.indexOf(TILDE);
    if (at === -1) {
      this.keepTail(chunk);
      return;
    }
    const onLatency = this.latencySink;
    const now = onLatency ? nowMicros() : 0;
    let last = at;
    let found = 0;
    while (at !== -1) {
      found++;
      last = at;
      if (onLatency) {
        const tail = this.tailAt(chunk, at);
        if (tail) onLatency.push(now - tail.micros);
      }
      at = chunk.indexOf(TILDE, at + 1);
    }
    this.count += found;
    const tail = this.tailAt(chunk, last);
    if (tail) this.lastSeq = tail.seq;
    this.keepTail(chunk);
    this.options.onProgress?.(this);
  }

  /** The seq/timestamp before a `~`, looking into the previous chunk's end if it was cut. */
  tailAt(chunk, at) {
    if (at >= 48) return readTail(chunk, at);
    const joined = Buffer.concat([this.prev, chunk.subarray(0, at + 1)]);
    return readTail(joined, joined.length - 1);
  }

  keepTail(chunk) {
    // A copy, so the socket's large read buffer isn't kept alive by a 64-byte view.
    const tail =
      chunk.length >= 64
        ? chunk.subarray(chunk.length - 64)
        : Buffer.concat([this.prev, chunk]).subarray(-64);
    this.prev = Buffer.from(tail);
  }

  pause() {
    this.socket?.pause();
  }

  destroy() {
    this.socket?.destroy();
  }
}
