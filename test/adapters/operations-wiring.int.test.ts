/**
 * The adapters' operations wiring (issue 15): the `logger` option gets the lines ssekit prints on
 * its own, rate-limited (an outage can't print one per client), and `drainMs` makes shutdown
 * (Express's `close()`, Fastify's `preClose`) drain the hub before ending what is left.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHub, type Hub, MemoryStore, StoreUnavailableError } from '@ssekit/core';
import { sse as expressSse } from '@ssekit/express';
import { sse as fastifySse } from '@ssekit/fastify';
import { cleanupAfterEach, waitUntil, watch } from '@ssekit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

const cleanups = cleanupAfterEach();

interface Lines {
  error: unknown[][];
  warn: unknown[][];
}

function recordingLogger(): Lines & {
  logger: Record<'error' | 'warn', (...a: unknown[]) => void>;
} {
  const lines: Lines = { error: [], warn: [] };
  return {
    ...lines,
    logger: {
      error: (...args) => lines.error.push(args),
      warn: (...args) => lines.warn.push(args),
    },
  };
}

interface App {
  url: string;
  /** Shuts the app down the adapter's way (Express: `await sse.close()`; Fastify: `app.close()`). */
  shutdown(): Promise<void>;
}

/** `/fail` pipes a source that fails after one event; `/sub?ch=` subscribes. */
type Build = (hub: Hub, options: Record<string, unknown>) => Promise<App>;

async function* failing(): AsyncGenerator<string> {
  yield 'one';
  throw new Error('upstream went away');
}

const onExpress: Build = async (hub, options) => {
  const app = express();
  const middleware = expressSse({ hub, heartbeat: false, ...options });
  app.use(middleware);
  app.get('/fail', (_req, res) => void res.sse!.pipe(failing()));
  app.get('/sub', (req, res) => void res.sse!.subscribe(String(req.query.ch)));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    await middleware.close();
    server.closeAllConnections();
    server.close();
  };
  cleanups.push(shutdown);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, shutdown };
};

const onFastify: Build = async (hub, options) => {
  // While it closes, Fastify answers 503 unless told not to; the drain then answers politely.
  const app = Fastify({ return503OnClosing: false });
  await app.register(fastifySse, { hub, heartbeat: false, ...options });
  app.get('/fail', { sse: true }, (_request, reply) => reply.sse!(failing()));
  app.get('/sub', { sse: true }, async (request, reply) => {
    await reply.sse!.subscribe(String((request.query as { ch: string }).ch));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  let closed: Promise<void> | undefined;
  const shutdown = () => {
    closed ??= app.close();
    return closed;
  };
  cleanups.push(shutdown);
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, shutdown };
};

describe.each([
  ['express', onExpress],
  ['fastify', onFastify],
] as Array<[string, Build]>)('%s', (name, build) => {
  it('logs errors after the stream started through the logger option, one line for twenty clients', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const { logger, error } = recordingLogger();
    const app = await build(hub, { logger });
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async () => (await fetch(`${app.url}/fail`)).text()),
    );
    for (const body of bodies) expect(body).toContain('data: one');
    expect(error).toHaveLength(1);
    const line = name === 'express' ? String(error[0]![0]) : String(error[0]![1]);
    expect(line).toContain(name === 'express' ? 'upstream went away' : 'ssekit: stream error');
    if (name === 'fastify')
      expect(error[0]![0]).toMatchObject({ err: { message: 'upstream went away' } });
  });

  it('says "store unavailable" once through logger.warn while every subscriber is sent away', async () => {
    const store = new MemoryStore();
    Object.assign(store, {
      readAfter: () => Promise.reject(new StoreUnavailableError('ssekit: store down')),
    });
    const hub = createHub({ store });
    cleanups.push(() => hub.close());
    const { logger, warn } = recordingLogger();
    const app = await build(hub, { logger, unavailableRetry: 1000 });
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async () => (await fetch(`${app.url}/sub?ch=x`)).text()),
    );
    for (const body of bodies) expect(body).toMatch(/^retry: \d+\n\n$/);
    // The store-unavailable line is process-wide: an earlier test may already have printed it.
    expect(warn.length).toBeLessThanOrEqual(1);
    for (const [line] of warn) expect(String(line)).toMatch(/store unavailable/);
  });

  it('drains the hub on shutdown with drainMs: streams end spread with retry:, newcomers are sent away politely', async () => {
    const hub = createHub();
    cleanups.push(() => hub.close());
    const app = await build(hub, { drainMs: 300, rejoinRetry: 5000 });
    const clients = Array.from({ length: 10 }, () => watch(`${app.url}/sub?ch=d`, [], {}));
    for (const c of clients) cleanups.push(() => c.close());
    for (const c of clients) await c.until(() => c.opens === 1, 'open');
    const id = await hub.publish('d', 'before');
    for (const c of clients) await c.until(() => c.ids().includes(id), 'received');
    const started = Date.now();
    const ends: number[] = [];
    const closing = app.shutdown();
    await waitUntil(() => hub.health().draining, 'draining');
    const newcomer = await fetch(`${app.url}/sub?ch=d`);
    expect(newcomer.status).toBe(200);
    expect(await newcomer.text()).toMatch(/^retry: \d+\n\n$/);
    for (const c of clients)
      c.source.addEventListener('error', () => ends.push(Date.now() - started), { once: true });
    await closing;
    await waitUntil(() => ends.length === 10, 'every client told to come back');
    // Spread over the window, not all at once; and shutdown waited for the drain.
    expect(Math.max(...ends)).toBeGreaterThanOrEqual(200);
    expect(Math.min(...ends)).toBeLessThan(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(hub.health().streams).toBe(0);
  });
});
