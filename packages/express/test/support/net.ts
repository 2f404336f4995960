/** Real servers on 127.0.0.1:0 and the real `eventsource` client, with listener-driven waits. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EventSource, type EventSourceInit } from 'eventsource';

export { type Deferred, deferred } from '../../../../test/support/deferred.js';

export interface Running {
  server: Server;
  url: string;
  /** Every socket the server accepted, so a test can drop one like a network blip. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

export async function listen(handler: RequestListener): Promise<Running> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Received {
  type: string;
  data: string;
  lastEventId: string;
}

/** An EventSource that records every event of the given types and lets a test await a count. */
export class Client {
  readonly source: EventSource;
  readonly received: Received[] = [];
  readonly opened: Promise<void>;
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(url: string, types: string[] = ['message'], init?: EventSourceInit) {
    this.source = new EventSource(url, init);
    for (const type of types) {
      this.source.addEventListener(type, (event) => {
        this.received.push({ type, data: event.data, lastEventId: event.lastEventId });
        this.waiters = this.waiters.filter((w) => {
          if (this.received.length < w.count) return true;
          w.resolve();
          return false;
        });
      });
    }
    this.opened = new Promise((resolve) => this.source.addEventListener('open', () => resolve()));
  }

  /** Resolves once `count` events in total have arrived. */
  count(count: number): Promise<Received[]> {
    if (this.received.length >= count) return Promise.resolve(this.received.slice());
    return new Promise((resolve) => {
      this.waiters.push({ count, resolve: () => resolve(this.received.slice()) });
    });
  }

  data(): string[] {
    return this.received.map((r) => r.data);
  }

  close(): void {
    this.source.close();
  }
}
