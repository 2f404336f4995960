/** Graceful shutdown: hub.close() ends every stream, so server.close() completes with clients connected. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { channel, createHub, sse } from '@ssekit/express';
import { deferred, watch } from '@ssekit/test-support';
import { flavours } from '@ssekit/test-support/express';
import { describe, expect, it } from 'vitest';

describe.each(flavours)('$name', ({ create }) => {
  it('ends subscribed, piped and send-only streams, then server.close() completes', async () => {
    const hub = createHub();
    const app = create();
    // A long retry keeps the clients from reconnecting while the server shuts down.
    app.use(sse({ hub, retry: 60_000, heartbeat: false }));
    const generatorDone = deferred();
    app.get('/channel', sse.channel('news'));
    app.get('/piped', (_req, res) => {
      async function* forever(signal: AbortSignal): AsyncGenerator<string> {
        try {
          yield 'token';
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        } finally {
          generatorDone.resolve();
        }
      }
      void res.sse.pipe(forever(res.sse.signal));
    });
    app.get('/manual', (_req, res) => {
      res.sse.send('hello');
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const clients = ['/channel', '/piped', '/manual'].map((path) =>
      watch(`${base}${path}`, ['message', 'bye']),
    );
    try {
      await Promise.all(clients.map((c) => c.opened));
      await hub.publish('news', 'live');
      await Promise.all(clients.map((c) => c.count(1)));
      expect(hub.stats().clients).toBe(3);

      await hub.close({ final: { event: 'bye', data: 'shutting down' } });
      const closed = deferred<Error | undefined>();
      server.close((error) => closed.resolve(error));
      expect(await closed.promise).toBeUndefined();

      await generatorDone.promise;
      const finals = await Promise.all(clients.map((c) => c.count(2)));
      expect(finals.map((received) => `${received[1]!.type}:${received[1]!.data}`)).toEqual(
        clients.map(() => 'bye:shutting down'),
      );
      expect(hub.stats().clients).toBe(0);
    } finally {
      for (const client of clients) client.close();
      server.closeAllConnections();
    }
  });

  it('middleware.close() ends the streams it served after finalEvent, so server.close() completes', async () => {
    const hub = createHub();
    const app = create();
    const middleware = sse({
      hub,
      retry: 60_000,
      heartbeat: false,
      finalEvent: { event: 'bye', data: 'restarting' },
    });
    app.use(middleware);
    app.get('/channel', channel('news'));
    app.get('/manual', (_req, res) => {
      res.sse.send('hello');
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const clients = ['/channel', '/manual'].map((path) =>
      watch(`${base}${path}`, ['message', 'bye']),
    );
    try {
      await Promise.all(clients.map((c) => c.opened));
      await hub.publish('news', 'live');
      await Promise.all(clients.map((c) => c.count(1)));

      middleware.close();
      const finals = await Promise.all(clients.map((c) => c.count(2)));
      expect(finals.map((received) => `${received[1]!.type}:${received[1]!.data}`)).toEqual([
        'bye:restarting',
        'bye:restarting',
      ]);
      // A stream that starts after close() ends at once, with the final event.
      const late = await fetch(`${base}/manual`);
      expect(await late.text()).toBe(
        'retry: 60000\n\ndata: hello\n\nevent: bye\ndata: restarting\n\n',
      );
      const closed = deferred<Error | undefined>();
      server.close((error) => closed.resolve(error));
      expect(await closed.promise).toBeUndefined();
    } finally {
      for (const client of clients) client.close();
      server.closeAllConnections();
      await hub.close();
    }
  });

  it('checks finalEvent when sse() is called, not at shutdown', () => {
    expect(() => sse({ finalEvent: { id: 'bad\nid' } })).toThrow(TypeError);
    expect(() => sse({ finalEvent: { id: 'bad\nid' } })).toThrow(/finalEvent/);
  });
});
