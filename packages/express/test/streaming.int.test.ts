/** Streaming through a real server and the real `eventsource` client, on Express 5 and 4. */

import { createHub, type Hub, sse } from '@ssekit/express';
import { deferred, type EventRecorder, listen, type Running, watch } from '@ssekit/test-support';
import { flavours } from '@ssekit/test-support/express';
import type { NextFunction, Request, Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';

describe.each(flavours)('$name', ({ create, router }) => {
  let running: Running | undefined;
  let hub: Hub | undefined;
  const clients: EventRecorder[] = [];
  const connect = (...args: Parameters<typeof watch>): EventRecorder => {
    const client = watch(...args);
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await hub?.close();
    await running?.close();
    hub = undefined;
    running = undefined;
  });

  it('sends events with data, event type and id from a handler', async () => {
    const app = create();
    app.use(sse({ heartbeat: false }));
    app.get('/events', (_req, res) => {
      res.sse.send({ n: 1 }, { id: 'a-1' });
      res.sse.comment('not a message');
      res.sse.send('two\nlines', { event: 'tick', id: 'a-2' });
      res.sse.send('', { id: 0 });
    });
    running = await listen(app);
    const client = connect(`${running.url}/events`, ['message', 'tick']);
    const received = await client.count(3);
    expect(received).toEqual([
      { type: 'message', data: '{"n":1}', lastEventId: 'a-1' },
      { type: 'tick', data: 'two\nlines', lastEventId: 'a-2' },
      { type: 'message', data: '', lastEventId: '0' },
    ]);
  });

  it('streams a hub channel to res.sse.subscribe() and frees the stream when the client leaves', async () => {
    hub = createHub();
    const channelHub = hub;
    const app = create();
    app.use(sse({ hub }));
    const left = deferred<{ reason: string | undefined; aborted: boolean }>();
    app.get('/prices', (_req, res) => {
      res.sse.onClose((reason) => left.resolve({ reason, aborted: res.sse.signal.aborted }));
      void res.sse.subscribe('prices');
    });
    running = await listen(app);
    const client = connect(`${running.url}/prices`);
    await client.opened;
    const ids = [
      await channelHub.publish('prices', { p: 1 }),
      await channelHub.publish('prices', { p: 2 }),
    ];
    const received = await client.count(2);
    expect(received.map((r) => r.lastEventId)).toEqual(ids);
    expect(client.data()).toEqual(['{"p":1}', '{"p":2}']);
    expect(channelHub.stats().clients).toBe(1);
    client.close();
    expect(await left.promise).toEqual({ reason: 'client', aborted: true });
    expect(channelHub.stats().clients).toBe(0);
  });

  it('resumes three channels after the server drops the socket: every missed event once, in order', async () => {
    hub = createHub();
    const channelHub = hub;
    const app = create();
    const closed = deferred();
    const reconnected = deferred<string | undefined>();
    const gate = deferred();
    let connections = 0;
    app.get(
      '/multi',
      (req: Request, res: Response, next: NextFunction) => {
        connections++;
        if (connections === 1) {
          res.on('close', () => closed.resolve());
          next();
          return;
        }
        // Hold the reconnect until the test has published what the client must catch up on.
        reconnected.resolve(req.headers['last-event-id'] as string | undefined);
        void gate.promise.then(() => next());
      },
      sse.channel(['a', 'b', 'c'], { hub, retry: 10, heartbeat: false }),
    );
    running = await listen(app);
    const client = connect(`${running.url}/multi`);
    await client.opened;
    const published: string[] = [];
    const publish = async (channel: string, n: number): Promise<void> => {
      const id = await channelHub.publish(channel, `${channel}${n}`);
      published.push(`${id} ${channel}${n}`);
    };
    await publish('a', 1);
    await publish('b', 1);
    await publish('c', 1);
    const before = await client.count(3);

    // A network blip: the socket dies; two events race the server noticing it, two follow.
    for (const socket of running.sockets) socket.destroy();
    await publish('a', 2);
    await publish('b', 2);
    await closed.promise;
    await publish('c', 2);
    await publish('a', 3);

    expect(await reconnected.promise).toBe(before[2]!.lastEventId);
    gate.resolve();
    await client.count(7);
    await publish('b', 3);
    const all = await client.count(8);
    expect(all.map((r) => `${r.lastEventId} ${r.data}`)).toEqual(published);
    expect(connections).toBe(2);
  });

  it('works inside express.Router() and keeps CORS headers set earlier', async () => {
    hub = createHub();
    const channelHub = hub;
    const app = create();
    const api = router();
    api.use((_req, res, next) => {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Vary', 'Origin');
      next();
    });
    api.get(
      '/feed/:topic',
      sse.channel((req) => `feed:${req.params.topic}`, { hub }),
    );
    app.use('/api', api);
    running = await listen(app);
    const headers = deferred<Headers>();
    const client = connect(`${running.url}/api/feed/news`, ['message'], {
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        headers.resolve(response.headers);
        return response;
      },
    });
    await client.opened;
    const seen = await headers.promise;
    expect(seen.get('access-control-allow-origin')).toBe('*');
    expect(seen.get('vary')).toBe('Origin');
    expect(seen.get('content-type')).toBe('text/event-stream; charset=utf-8');
    await channelHub.publish('feed:news', 'hello');
    expect((await client.count(1))[0]!.data).toBe('hello');
  });

  it('resumes from the lastEventId query parameter on the route form', async () => {
    hub = createHub();
    const app = create();
    app.get('/q', sse.channel('q', { hub }));
    const first = await hub.publish('q', 'one');
    await hub.publish('q', 'two');
    running = await listen(app);
    const client = connect(`${running.url}/q?lastEventId=${encodeURIComponent(first)}`);
    expect((await client.count(1))[0]!.data).toBe('two');
  });
});
