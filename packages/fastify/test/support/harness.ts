/** Real Fastify servers on 127.0.0.1:0, the real `eventsource` client, and listener-driven waits. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

export { type Deferred, deferred } from '../../../../test/support/deferred.js';

export interface Listening {
  url: string;
  /** Every socket the server accepted, so a test can drop one like a network blip. */
  sockets: Set<Socket>;
}

/** Listens on 127.0.0.1:0 and tracks sockets. The caller closes the app. */
export async function listen(app: FastifyInstance): Promise<Listening> {
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, sockets };
}

export { Client, type Received } from '../../../../test/support/event-client.js';

export interface RawResponse {
  response: IncomingMessage;
  /** Text received so far. */
  text(): string;
  /** Resolves with all text once it contains `needle`. */
  until(needle: string): Promise<string>;
  /** Resolves when the server ends the response. */
  ended: Promise<string>;
  destroy(): void;
}

/** A plain node:http GET that exposes the body as it arrives. */
export function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // A fresh connection per request, like a browser's EventSource; no keep-alive reuse.
    const req = httpRequest(url, { headers, agent: false }, (response) => {
      let body = '';
      let waiters: Array<{ needle: string; resolve: (text: string) => void }> = [];
      const ended = new Promise<string>((res) => response.on('end', () => res(body)));
      // Destroying the request on purpose surfaces here as "aborted"; the test expects it.
      response.on('error', () => {});
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
        waiters = waiters.filter((w) => {
          if (!body.includes(w.needle)) return true;
          w.resolve(body);
          return false;
        });
      });
      resolve({
        response,
        text: () => body,
        until: (needle) =>
          body.includes(needle)
            ? Promise.resolve(body)
            : new Promise((res) => waiters.push({ needle, resolve: res })),
        ended,
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
