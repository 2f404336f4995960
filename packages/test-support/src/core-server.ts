/** A real node:http server that serves hub channels through core's SseStream, for tests. */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Hub,
  SseRefusal,
  SseStream,
  type SseStreamOptions,
  type SubscribeOptions,
} from '@ssekit/core';
import { trackSockets } from './listen.js';

export interface CoreServer {
  url: string;
  server: http.Server;
  /** Streams opened so far, newest last. */
  streams: SseStream[];
  /** Destroys every open socket: a network blip, not a close. */
  dropAll(): void;
  close(): Promise<void>;
}

/** `GET /?ch=a,b` subscribes to channels a and b, replaying from Last-Event-ID. */
export async function startCoreServer(
  hub: Hub,
  streamOptions: SseStreamOptions = {},
  subscribeOptions: SubscribeOptions = {},
): Promise<CoreServer> {
  const streams: SseStream[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const channels = (url.searchParams.get('ch') ?? 'main').split(',');
    const stream = new SseStream(
      res,
      { heartbeat: false, ...streamOptions },
      { request: req, hub },
    );
    streams.push(stream);
    hub
      .subscribe(stream, channels, { request: req, ...subscribeOptions })
      .catch((error: unknown) => {
        if (error instanceof SseRefusal) {
          res.statusCode = error.status;
          res.end();
        } else {
          res.statusCode = 500;
          res.end(String(error));
        }
      });
  });
  const sockets = trackSockets(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    streams,
    dropAll() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
