/**
 * A loopback TCP proxy that can be pointed at another Redis, as a failover behind a stable
 * address (Sentinel-aware DNS, a cloud endpoint) looks to clients: re-pointing drops every
 * connection, and new ones reach the new server.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** New connections go to `port`; open ones are dropped. */
  pointTo(port: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: number): Promise<TcpProxy> {
  let port = target;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const dropAll = (): void => {
    for (const socket of open) socket.destroy();
    open.clear();
  };
  return {
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    pointTo(next) {
      port = next;
      dropAll();
    },
    async close() {
      dropAll();
      server.close();
      await once(server, 'close');
    },
  };
}
