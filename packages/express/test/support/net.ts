/** Real servers on 127.0.0.1:0 and the real `eventsource` client, with listener-driven waits. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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

export { Client, type Received } from '../../../../test/support/event-client.js';
