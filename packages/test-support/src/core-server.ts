/** Real node:http servers that serve hub channels and runs through core's SseStream, for tests. */
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
export function startCoreServer(
  hub: Hub,
  streamOptions: SseStreamOptions = {},
  subscribeOptions: SubscribeOptions = {},
): Promise<CoreServer> {
  return serveStreams(hub, streamOptions, (stream, url, req) =>
    hub.subscribe(stream, (url.searchParams.get('ch') ?? 'main').split(','), {
      request: req,
      ...subscribeOptions,
    }),
  );
}

/**
 * `GET /?key=K[&openai]` follows run K (`hub.followRun`): replay from Last-Event-ID or the start,
 * then live, then the terminal event (`data: [DONE]` with `openai`). Streams retry after 20 ms.
 */
export function startRunServer(
  hub: Hub,
  streamOptions: SseStreamOptions = {},
): Promise<CoreServer> {
  return serveStreams(hub, { retry: 20, ...streamOptions }, (stream, url) =>
    hub.followRun(stream, url.searchParams.get('key') ?? '', {
      terminator: url.searchParams.has('openai') ? 'openai' : 'events',
    }),
  );
}

/** The server both share: a refusal answers its status, anything else a 500. */
async function serveStreams(
  hub: Hub,
  streamOptions: SseStreamOptions,
  attach: (stream: SseStream, url: URL, req: http.IncomingMessage) => Promise<unknown>,
): Promise<CoreServer> {
  const streams: SseStream[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const stream = new SseStream(
      res,
      { heartbeat: false, ...streamOptions },
      { request: req, hub },
    );
    streams.push(stream);
    attach(stream, url, req).catch((error: unknown) => {
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
