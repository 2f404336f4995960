/** Real servers on 127.0.0.1:0 that track their sockets, so a test can drop one like a network blip. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** The sockets `server` has open, kept up to date. */
export function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return sockets;
}

export interface Running {
  server: Server;
  url: string;
  /** Every socket the server accepted and has open. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A node:http server for `handler` (an Express app, say) on 127.0.0.1:0. */
export async function listen(handler: RequestListener): Promise<Running> {
  const server = createServer(handler);
  const sockets = trackSockets(server);
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

export interface Listening {
  url: string;
  /** Every socket the server accepted and has open. */
  sockets: Set<Socket>;
}

/** Listens with a Fastify app on 127.0.0.1:0 and tracks its sockets. The caller closes the app. */
export async function listenFastify(app: FastifyInstance): Promise<Listening> {
  const sockets = trackSockets(app.server);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, sockets };
}
