/** A real node:http server on 127.0.0.1:0 that wraps each request in an SseStream. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SseStream, type SseStreamOptions } from '@ssekit/core';
import { AsyncQueue } from './async-queue.js';

export interface ServedStream {
  stream: SseStream;
  req: IncomingMessage;
  res: ServerResponse;
}

export interface TestServer {
  url: string;
  port: number;
  server: Server;
  /** Each request's stream, in arrival order. */
  streams: AsyncQueue<ServedStream>;
  /** Every stream created so far. */
  all: SseStream[];
  close(): Promise<void>;
}

export type Handler = (served: ServedStream) => void;

/**
 * Starts a server. `handler` runs for each request after its stream is created; by default
 * the stream is started at once so the client sees headers.
 */
export async function startSseServer(
  options: SseStreamOptions = {},
  handler: Handler = ({ stream }) => stream.start(),
): Promise<TestServer> {
  const streams = new AsyncQueue<ServedStream>();
  const all: SseStream[] = [];
  const server = createServer((req, res) => {
    const stream = new SseStream(res, options, { request: req });
    all.push(stream);
    const served = { stream, req, res };
    handler(served);
    streams.push(served);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    streams,
    all,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(all.map((stream) => stream.whenClosed()));
    },
  };
}
