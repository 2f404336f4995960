/**
 * Rotation and drain with 1,000 clients, in memory (issue 15): two instances share one memory
 * store (as two processes share Redis), and a client that is sent away comes back through the
 * "load balancer" to whichever instance is still taking clients. Zero gaps, zero duplicates.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHub, type Hub, MemoryStore } from '@ssekit/core';
import { channel, sse } from '@ssekit/express';
import { cleanupAfterEach, type EventRecorder, watch } from '@ssekit/test-support';
import express from 'express';
import { describe, expect, it } from 'vitest';

const CLIENTS = 1_000;

const cleanups = cleanupAfterEach();

/** One instance: a hub on the shared store, an Express app serving `/feed`. */
async function instance(store: MemoryStore, maxAge?: number): Promise<{ hub: Hub; url: string }> {
  const hub = createHub({ store });
  const app = express();
  app.use(
    sse({
      hub,
      heartbeat: false,
      rejoinRetry: 50,
      unavailableRetry: 50,
      ...(maxAge ? { maxAge } : {}),
    }),
  );
  app.get('/feed', channel('feed'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { hub, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed` };
}

/** A client whose reconnects go wherever `route()` says (a load balancer). */
function client(first: string, route: () => string): EventRecorder {
  let connects = 0;
  const recorder = watch(first, [], {
    fetch: (input, init) => fetch(connects++ === 0 ? input : route(), init),
  });
  cleanups.push(() => recorder.close());
  return recorder;
}

/** Publishes until `done()` holds, then once more; returns every id published. */
async function publishUntil(hub: Hub, done: () => boolean): Promise<string[]> {
  const ids: string[] = [];
  for (let round = 0; round < 2_000 && !done(); round++) {
    ids.push(await hub.publish('feed', round));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  ids.push(await hub.publish('feed', 'last'));
  return ids;
}

function expectExact(clients: EventRecorder[], published: string[]): void {
  for (const c of clients) {
    const from = published.indexOf(c.ids()[0]!);
    expect(from).toBeGreaterThanOrEqual(0);
    expect(c.ids()).toEqual(published.slice(from));
  }
}

describe('1,000 clients in memory', { timeout: 90_000 }, () => {
  it('drain: every client moves to the other instance and resumes with zero gaps and zero duplicates', async () => {
    const store = new MemoryStore();
    const a = await instance(store);
    const b = await instance(store);
    cleanups.push(async () => {
      await a.hub.close();
      await b.hub.close();
    });
    const clients = Array.from({ length: CLIENTS }, () => client(a.url, () => b.url));
    for (const c of clients) await c.opened;
    const published = [await a.hub.publish('feed', 'first')];
    const drained = a.hub.drain({ withinMs: 1_000 });
    const more = publishUntil(a.hub, () => clients.every((c) => c.opens >= 2));
    await drained;
    published.push(...(await more));
    for (const c of clients)
      await c.until(() => c.ids().at(-1) === published.at(-1), 'caught up', 20_000);
    expectExact(clients, published);
    expect(a.hub.stats().clients).toBe(0);
  });

  it('rotation: every client ends after maxAge, comes back, and resumes with zero gaps and zero duplicates', async () => {
    const store = new MemoryStore();
    const a = await instance(store, 600);
    const b = await instance(store, 600);
    cleanups.push(async () => {
      await a.hub.close();
      await b.hub.close();
    });
    let next = 0;
    const clients = Array.from({ length: CLIENTS }, () =>
      client(a.url, () => (next++ % 2 === 0 ? a.url : b.url)),
    );
    for (const c of clients) await c.opened;
    const published = await publishUntil(a.hub, () => clients.every((c) => c.opens >= 3));
    for (const c of clients)
      await c.until(() => c.ids().at(-1) === published.at(-1), 'caught up', 20_000);
    expectExact(clients, published);
  });
});
