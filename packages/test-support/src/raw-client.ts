/**
 * The one raw client: HTTP/1.x over a plain TCP socket. It sees the exact bytes (head and chunk
 * framing included), can stop reading at will (`socket.pause()`), and also decodes the body
 * (de-chunked UTF-8 text, and its events as eventsource-parser reads them).
 */
import { connect, type Socket } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { TextWatch } from './text-watch.js';

export interface RawHead {
  status: number;
  /** Header names lower-cased; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
}

export interface RawClient {
  socket: Socket;
  /** Everything received so far, head included, as latin1 text (one char per byte). */
  received: TextWatch;
  /** Resolves with the response's head block (status line and headers) once it has arrived. */
  headers: Promise<string>;
  /** The status and headers, once the head has arrived. */
  head: Promise<RawHead>;
  /** The body as UTF-8 text, chunk framing removed, as it arrives. */
  body: TextWatch;
  /** The body's events so far, as eventsource-parser reads them. */
  events(): EventSourceMessage[];
  /** Resolves with the body so far once it contains `needle`. */
  until(needle: string, ms?: number): Promise<string>;
  /** Resolves with the whole body once the response is complete (the last chunk, Content-Length, or, without either, the connection closed). */
  ended: Promise<string>;
  /** Resolves when the server closed or reset the connection. */
  closed: Promise<void>;
  destroy(): void;
}

export interface RawGetOptions {
  /** Extra request header lines, sent as latin1 bytes (`Accept: text/event-stream` unless one is given). */
  headers?: string[];
  /** Asks with HTTP/1.0, so the body is not chunked. */
  http10?: boolean;
}

/** Sends `GET` for `url` (an http://host:port/path URL) on a fresh connection. */
export function rawGet(
  url: string,
  { headers = [], http10 = false }: RawGetOptions = {},
): RawClient {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = connect(Number(port), hostname);
  const received = new TextWatch();
  const body = new TextWatch();
  const decoder = new TextDecoder();
  const bodyText = (bytes: Buffer): void => body.append(decoder.decode(bytes, { stream: true }));
  let resolveEnded!: (text: string) => void;
  const ended = new Promise<string>((resolve) => {
    resolveEnded = resolve;
  });
  const framing = new BodyFraming(bodyText, () => resolveEnded(body.text));
  socket.on('data', (chunk: Buffer) => {
    received.append(chunk.toString('latin1'));
    framing.push(chunk);
  });
  // A reset from the server is expected in some tests; 'close' reports it.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      framing.closed();
      resolve();
    }),
  );
  const hasAccept = headers.some((line) => /^accept:/i.test(line));
  const request = [
    `GET ${pathname}${search} HTTP/${http10 ? '1.0' : '1.1'}`,
    `Host: ${hostname}`,
    ...(hasAccept ? [] : ['Accept: text/event-stream']),
    ...headers,
  ];
  socket.write(`${request.join('\r\n')}\r\n\r\n`, 'latin1');
  const headBlock = received
    .until((text) => text.includes('\r\n\r\n'), 'the response head')
    .then(() => received.text.slice(0, received.text.indexOf('\r\n\r\n')));
  return {
    socket,
    received,
    headers: headBlock,
    head: headBlock.then(parseHead),
    body,
    events: () => {
      const events: EventSourceMessage[] = [];
      createParser({ onEvent: (event) => events.push(event) }).feed(body.text);
      return events;
    },
    until: (needle, ms) =>
      body.until((text) => text.includes(needle), JSON.stringify(needle), ms).then(() => body.text),
    ended,
    closed,
    destroy: () => socket.destroy(),
  };
}

function parseHead(block: string): RawHead {
  const [statusLine = '', ...lines] = block.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/** Splits the bytes after the head into body bytes: chunked, by Content-Length, or to the close. */
class BodyFraming {
  private buffer: Buffer = Buffer.alloc(0);
  private mode: 'head' | 'chunked' | 'length' | 'close' | 'done' = 'head';
  /** Bytes left of the current chunk, or of a Content-Length body. */
  private remaining = 0;
  /** Whether a chunk's trailing CRLF comes before the next size line. */
  private afterChunk = false;

  constructor(
    private readonly onBody: (bytes: Buffer) => void,
    private readonly onEnd: () => void,
  ) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.mode === 'head') {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = parseHead(this.buffer.subarray(0, end).toString('latin1'));
        this.buffer = this.buffer.subarray(end + 4);
        const length = head.headers['content-length'];
        if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) this.mode = 'chunked';
        else if (length !== undefined) {
          this.mode = 'length';
          this.remaining = Number(length);
        } else this.mode = 'close';
      } else if (this.mode === 'chunked' && this.remaining > 0) {
        // Inside a chunk: pass on what there is of it (a large chunk arrives in many reads).
        const bytes = this.buffer.subarray(0, this.remaining);
        if (bytes.length === 0) return;
        this.buffer = this.buffer.subarray(bytes.length);
        this.remaining -= bytes.length;
        this.onBody(bytes);
      } else if (this.mode === 'chunked') {
        // A chunk's trailing CRLF (after the first chunk) and the next chunk's size line.
        const start = this.afterChunk ? 2 : 0;
        const lineEnd = this.buffer.indexOf('\r\n', start);
        if (lineEnd < 0) return;
        const size = Number.parseInt(this.buffer.subarray(start, lineEnd).toString('latin1'), 16);
        this.buffer = this.buffer.subarray(lineEnd + 2);
        this.afterChunk = true;
        if (size === 0) {
          this.end();
          return;
        }
        this.remaining = size;
      } else if (this.mode === 'length') {
        const bytes = this.buffer.subarray(0, this.remaining);
        this.buffer = this.buffer.subarray(bytes.length);
        this.remaining -= bytes.length;
        if (bytes.length > 0) this.onBody(bytes);
        if (this.remaining === 0) this.end();
        return;
      } else {
        if (this.mode === 'close' && this.buffer.length > 0) this.onBody(this.buffer);
        this.buffer = Buffer.alloc(0);
        return;
      }
    }
  }

  /** The connection closed: the end of a body that runs to the close. */
  closed(): void {
    if (this.mode === 'close') this.end();
  }

  private end(): void {
    this.mode = 'done';
    this.onEnd();
  }
}
