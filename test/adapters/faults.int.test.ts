/**
 * Faults and misuse, the same on every adapter (issue 12): a store outage keeps browsers
 * retrying, a bad channel name is a 400, a second subscribe is refused, a bad final event fails early.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHub, type Hub } from '@ssekit/core';
import { sse } from '@ssekit/express';
import { channel, ssekit } from '@ssekit/fastify';
import { redisStore } from '@ssekit/redis';
import { type RedisServer, startRedisServer, watch } from '@ssekit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
});

interface App {
  url: string;
  /** Errors the adapter reported through `onError` (after the stream started). */
  reported: unknown[];
}

/** Routes: `/ch/:name` a channel route, `/twice` a handler that subscribes twice. */
type Build = (hub: Hub) => Promise<App>;

const express5: Build = async (hub) => {
  const reported: unknown[] = [];
  const app = express();
  app.use(
    sse({ hub, heartbeat: false, unavailableRetry: 200, onError: (error) => reported.push(error) }),
  );
  app.get(
    '/ch/:name',
    sse.channel((req) => (req.params.name === 'none' ? '' : req.params.name!)),
  );
  app.get('/twice', async (_req, res) => {
    await res.sse.subscribe('a');
    await res.sse.subscribe('a');
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reported };
};

const fastify5: Build = async (hub) => {
  const reported: unknown[] = [];
  const app = Fastify();
  await app.register(ssekit, {
    hub,
    heartbeat: false,
    unavailableRetry: 200,
    onError: (error) => reported.push(error),
  });
  app.get(
    '/ch/:name',
    channel((request) => {
      const { name } = request.params as { name: string };
      return name === 'none' ? '' : name;
    }),
  );
  app.get('/twice', { sse: true }, async (_request, reply) => {
    await reply.sse!.subscribe('a');
    await reply.sse!.subscribe('a');
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, reported };
};

const adapters: Array<[string, Build]> = [
  ['express', express5],
  ['fastify', fastify5],
];

function hubFor(options: Parameters<typeof createHub>[0] = {}): Hub {
  const hub = createHub(options);
  cleanups.push(() => hub.close());
  return hub;
}

describe.each(adapters)('%s', (_name, build) => {
  it('answers a bad channel name from the request with 400, not 500', async () => {
    const app = await build(hubFor());
    const response = await fetch(`${app.url}/ch/none`);
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/channel name/);
  });

  it('refuses a second subscribe on one response with a clear error (SSEKIT_ALREADY_SUBSCRIBED)', async () => {
    const hub = hubFor();
    const app = await build(hub);
    const client = watch(`${app.url}/twice`);
    cleanups.push(() => client.close());
    await client.until(() => client.opens >= 1, 'open');
    await vi.waitFor(() => expect(app.reported.length).toBeGreaterThanOrEqual(1));
    expect((app.reported[0] as { code?: string }).code).toBe('SSEKIT_ALREADY_SUBSCRIBED');
    expect(String(app.reported[0])).toMatch(/already subscribed/);
  });

  describe('while Redis is down', () => {
    let redis: RedisServer;
    afterEach(async () => {
      await redis?.stop();
    });

    it('keeps EventSource retrying (200 + retry: + end), logs one line, and resumes once Redis is back', async () => {
      redis = await startRedisServer();
      const store = redisStore({ url: redis.url, retryDelay: () => 50 });
      const hub = hubFor({ store });
      const app = await build(hub);
      await store.ready();
      // The client resumes from here, so whenever its subscribe gets through it misses nothing.
      const before = await hub.publish('user-1', 'before');
      await redis.kill();
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const error = vi.spyOn(console, 'error').mockImplementation(() => {});
      const refused = await Promise.all(
        Array.from({ length: 20 }, () => fetch(`${app.url}/ch/user-1`)),
      );
      for (const response of refused) {
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
        expect(await response.text()).toMatch(/^retry: \d+\n\n$/);
      }
      // Fastify logs through request.log (silent here); Express through console.warn: once.
      expect(warn.mock.calls.length).toBeLessThanOrEqual(1);
      expect(error).not.toHaveBeenCalled();
      const client = watch(`${app.url}/ch/user-1?lastEventId=${before}`, ['ssekit-gap']);
      cleanups.push(() => client.close());
      await client.until(
        () => client.events.length === 0 && client.source.readyState === 0,
        'retrying',
      );
      await redis.start();
      await store.ready();
      const id = await hub.publish('user-1', 'back');
      await client.until(() => client.ids().includes(id), 'an event after the outage', 20_000);
      expect(client.source.readyState).toBe(1);
    });
  });
});

describe('fastify', () => {
  it('rejects an invalid finalEvent at register, not at app.close()', async () => {
    const app = Fastify();
    cleanups.push(() => app.close().catch(() => {}));
    await expect(
      app.register(ssekit, { hub: hubFor(), finalEvent: { id: 'bad\nid' } }).ready(),
    ).rejects.toThrow(/"id"/);
  });
});
