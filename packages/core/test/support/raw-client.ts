/** A raw TCP HTTP/1.1 client: sees the exact bytes and can stop reading (pause) at will. */
import { connect, type Socket } from 'node:net';
import { TextWatch } from './text-watch.js';

export interface RawClient {
  socket: Socket;
  /** Everything received so far, headers included, as latin1 text (one char per byte). */
  received: TextWatch;
  /** Resolves when the response's header block has arrived. */
  headers: Promise<string>;
  /** Resolves when the server closed or reset the connection. */
  closed: Promise<void>;
}

export function rawGet(port: number, path: string, headerLines: string[] = []): RawClient {
  const socket = connect(port, '127.0.0.1');
  const received = new TextWatch();
  socket.on('data', (chunk: Buffer) => received.append(chunk.toString('latin1')));
  // A reset from the server is expected in some tests; 'close' reports it.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const request = [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Accept: text/event-stream',
    ...headerLines,
  ];
  socket.write(`${request.join('\r\n')}\r\n\r\n`, 'latin1');
  const headers = received
    .until((text) => text.includes('\r\n\r\n'))
    .then(() => received.text.slice(0, received.text.indexOf('\r\n\r\n')));
  return { socket, received, headers, closed };
}
