/**
 * Running ssekit in production (issue 15), in memory: limits, rotation, drain, authorization that
 * expires, health. Every client that is sent away comes back and resumes exactly.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  createHub,
  type Hub,
  type HubOptions,
  type SseStream,
  type SseStreamOptions,
} from '@ssekit/core';
import { sse as expressSse } from '@ssekit/express';
import { sse as fastifySse } from '@ssekit/fastify';
import { cleanupAfterEach, watch } from '@ssekit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

const cleanups = cleanupAfterEach();

interface Served {
  hub: Hub;
  server: { url: string; streams: SseStream[] };
}

/** `GET /?ch=a,b` subscribes through the adapter's session, as an app's route would. */
type Serve = (options?: HubOptions, stream?: SseStreamOptions) => Promise<Served>;

const channelsOf = (url: string | undefined): string[] =>
  (new URL(url ?? '/', 'http://x').searchParams.get('ch') ?? 'main').split(',');

const onExpress: Serve = async (options = {}, stream = {}) => {
  const hub = createHub(options);
  const streams: SseStream[] = [];
  const app = express();
  app.use(expressSse({ hub, heartbeat: false, unavailableRetry: 40, rejoinRetry: 20, ...stream }));
  app.get('/', async (req, res) => {
    streams.push(res.sse!.stream);
    await res.sse!.subscribe(channelsOf(req.url));
  });
  const listening = app.listen(0, '127.0.0.1');
  await once(listening, 'listening');
  cleanups.push(async () => {
    await hub.close();
    listening.closeAllConnections();
    listening.close();
  });
  const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}/`;
  return { hub, server: { url, streams } };
};

const onFastify: Serve = async (options = {}, stream = {}) => {
  const hub = createHub(options);
  const streams: SseStream[] = [];
  const app = Fastify();
  await app.register(fastifySse, {
    hub,
    heartbeat: false,
    unavailableRetry: 40,
    rejoinRetry: 20,
    ...stream,
  });
  app.get('/', { sse: true }, async (request, reply) => {
    streams.push(reply.sse!.stream);
    await reply.sse!.subscribe(channelsOf(request.url));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    await hub.close();
    await app.close();
  });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
  return { hub, server: { url, streams } };
};

function client(url: string, types: string[] = []) {
  const watched = watch(url, types);
  cleanups.push(() => watched.close());
  return watched;
}

/** Ids each client received, checked against what was published: no gap, no duplicate. */
function expectExact(received: string[], published: string[]): void {
  expect(received).toEqual(published);
}

describe.each([
  ['express', onExpress],
  ['fastify', onFastify],
] as Array<[string, Serve]>)('%s', (_name, serve) => {
  describe('limits', () => {
    it('refuses exactly at the bound, politely (200, retry:, end), and the refused client comes back', async () => {
      const { hub, server } = await serve({ limits: { streams: 2 } });
      // The refused client resumes from here: whenever it is let in, it misses nothing.
      const seed = await hub.publish('x', 'seed');
      const [a, b] = [client(`${server.url}?ch=x`), client(`${server.url}?ch=x`)];
      await a.until(() => a.opens === 1, 'a open');
      await b.until(() => b.opens === 1, 'b open');
      const refused = await fetch(`${server.url}?ch=x`);
      expect(refused.status).toBe(200);
      expect(await refused.text()).toMatch(/^retry: \d+\n\n$/);
      expect(hub.stats().refusedByLimit).toBe(1);
      const c = client(`${server.url}?ch=x&lastEventId=${seed}`);
      await c.until(() => hub.stats().refusedByLimit >= 2, 'c refused at least once');
      a.close();
      const id = await hub.publish('x', 'hello');
      await c.until(() => c.ids().includes(id), 'c receives');
    });

    it('answers 429 with Retry-After when configured, per channel and per key', async () => {
      const { server } = await serve({
        limits: {
          perChannel: 1,
          perKey: 1,
          key: (request) => String(request?.headers['x-user'] ?? ''),
          refuse: 429,
        },
      });
      const first = client(`${server.url}?ch=room`);
      await first.until(() => first.opens === 1, 'open');
      const sameChannel = await fetch(`${server.url}?ch=room`);
      expect(sameChannel.status).toBe(429);
      expect(Number(sameChannel.headers.get('retry-after'))).toBeGreaterThanOrEqual(0);
      await sameChannel.text();
      const ok = await fetch(`${server.url}?ch=other`, { headers: { 'x-user': 'u1' } });
      expect(ok.status).toBe(200);
      const sameUser = await fetch(`${server.url}?ch=third`, { headers: { 'x-user': 'u1' } });
      expect(sameUser.status).toBe(429);
      await sameUser.text();
      await ok.body?.cancel();
    });
  });

  describe('rotation', () => {
    it('ends streams after maxAge (with jitter) and 200 clients resume with zero gaps and zero duplicates', async () => {
      const { hub, server } = await serve({}, { maxAge: 150 });
      const clients = Array.from({ length: 200 }, () => client(`${server.url}?ch=feed`));
      for (const c of clients) await c.until(() => c.opens >= 1, 'open');
      const published: string[] = [];
      // Publish until every client has reconnected at least twice.
      while (clients.some((c) => c.opens < 3)) {
        published.push(await hub.publish('feed', published.length));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      published.push(await hub.publish('feed', 'last'));
      for (const c of clients)
        await c.until(() => c.ids().at(-1) === published.at(-1), 'caught up');
      for (const c of clients) {
        const from = published.indexOf(c.ids()[0]!);
        expectExact(c.ids(), published.slice(from));
      }
    });
  });

  describe('drain', () => {
    it('refuses new subscriptions politely, ends open streams spread over the window, resolves when none is left', async () => {
      const { hub, server } = await serve();
      const clients = Array.from({ length: 20 }, () => client(`${server.url}?ch=d`));
      for (const c of clients) await c.until(() => c.opens >= 1, 'open');
      expect(hub.health().status).toBe('ok');
      const ends: number[] = [];
      for (const stream of server.streams) stream.onClose(() => ends.push(Date.now()));
      const started = Date.now();
      const drained = hub.drain({ withinMs: 400 });
      expect(hub.health()).toMatchObject({ status: 'draining', ready: false });
      const refused = await fetch(`${server.url}?ch=d`);
      expect(await refused.text()).toMatch(/^retry: \d+\n\n$/);
      await drained;
      expect(ends.length).toBeGreaterThanOrEqual(20);
      // Spread, not all at once: the first ends early in the window, the last near its end.
      const spread = ends.slice(0, 20).map((t) => t - started);
      expect(Math.min(...spread)).toBeLessThan(200);
      expect(Math.max(...spread)).toBeGreaterThanOrEqual(300);
    });
  });

  describe('authorization that expires', () => {
    it('ends the stream at the expiry with retry:, and a reconnect with a revoked credential is refused before any replayed byte', async () => {
      let revoked = false;
      const expiresAt = Date.now() + 300;
      const { hub, server } = await serve({
        authorize: () => (revoked ? false : { expiresAt }),
      });
      const c = client(`${server.url}?ch=secret`);
      await c.until(() => c.opens === 1, 'open');
      const before = await hub.publish('secret', 'before expiry');
      await c.until(() => c.ids().includes(before), 'received');
      // When the credential expires: it is revoked, and something is published the client must not get.
      const ended = new Promise<number>((resolve) =>
        server.streams[0]!.onClose(() => {
          revoked = true;
          void hub.publish('secret', 'after revocation');
          resolve(Date.now());
        }),
      );
      const endedAt = await ended;
      expect(endedAt).toBeGreaterThanOrEqual(expiresAt);
      expect(endedAt - expiresAt).toBeLessThan(250);
      await c.until(() => c.source.readyState === 2, 'refused for good (403)');
      expect(c.data()).toEqual(['before expiry']);
    });
  });
});
