/**
 * A loopback TCP proxy in front of a Redis. Pointed at another server it is a failover behind a
 * stable address (Sentinel-aware DNS, a cloud endpoint): open connections drop, new ones reach
 * the new server. Held, it is a replication link that falls behind: nothing more reaches the
 * other side (SIGSTOP on a replica can't do that: the master's writes wait in its socket buffer).
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** New connections go to `port`; open ones are dropped. */
  pointTo(port: number): void;
  /** From now on, bytes from the server side are dropped instead of forwarded. */
  hold(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: number): Promise<TcpProxy> {
  let port = target;
  let held = false;
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
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!held) client.write(chunk);
    });
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
      held = false;
      dropAll();
    },
    hold() {
      held = true;
    },
    async close() {
      dropAll();
      server.close();
      await once(server, 'close');
    },
  };
}
