/**
 * The same app on every adapter: a channel route, an AI-style piped route, and a route that
 * sends a bad field. The cross-adapter suite runs one set of scenarios against each.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHub, type Hub } from '@ssekit/core';
import { sse } from '@ssekit/express';
import { channel, ssekit } from '@ssekit/fastify';
import { trackSockets } from '@ssekit/test-support';
import express5, { type Express } from 'express';
import express4 from 'express4';
import Fastify from 'fastify';

export interface AppUnderTest {
  url: string;
  hub: Hub;
  /** Resolves when the piped generator's `finally` has run. */
  finalised: Promise<void>;
  /** Destroys every open socket: a network blip. */
  dropAll(): void;
  /** Closes the server (and returns once it has finished closing). */
  closeServer(): Promise<void>;
}

const secret = (_request: unknown, name: string): boolean => name !== 'secret';
const channelsOf = (url: string | undefined): string[] =>
  (new URL(url ?? '/', 'http://x').searchParams.get('ch') ?? '').split(',');

/** A token source parked on a promise that only the client leaving (the signal) settles. */
async function* parkedTokens(signal: AbortSignal, onFinally: () => void): AsyncGenerator<string> {
  try {
    yield 'Hello';
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    yield 'never sent';
  } finally {
    onFinally();
  }
}

function tracked(server: Server): { dropAll(): void; closeServer(): Promise<void> } {
  const sockets = trackSockets(server);
  return {
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
    closeServer: async () => {
      const closed = once(server, 'close');
      server.close();
      await closed;
    },
  };
}

const streamOptions = { retry: 5, heartbeat: false } as const;

async function expressApp(create: () => Express): Promise<AppUnderTest> {
  const hub = createHub();
  let finish!: () => void;
  const finalised = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const app = create();
  app.use(sse({ hub, ...streamOptions }));
  app.get(
    '/ch',
    sse.channel((req) => channelsOf(req.url), { authorize: secret }),
  );
  app.get('/ai', async (_req, res) => {
    await res.sse.pipe(parkedTokens(res.sse.signal, finish));
    res.sse.close();
  });
  app.get('/bad', (_req, res) => {
    res.sse.send('x', { event: 'forged\nevent' });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, hub, finalised, ...tracked(server) };
}

async function fastifyApp(): Promise<AppUnderTest> {
  const hub = createHub();
  let finish!: () => void;
  const finalised = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const app = Fastify();
  await app.register(ssekit, { hub, ...streamOptions });
  app.get(
    '/ch',
    channel((request) => channelsOf(request.url), { authorize: secret }),
  );
  app.get('/ai', { sse: true }, (_request, reply) =>
    reply.sse!(parkedTokens(reply.sse!.signal, finish)),
  );
  app.get('/bad', { sse: true }, (_request, reply) => {
    reply.sse!.send('x', { event: 'forged\nevent' });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const { dropAll } = tracked(app.server);
  return {
    url: `http://127.0.0.1:${port}`,
    hub,
    finalised,
    dropAll,
    closeServer: () => app.close(),
  };
}

export const adapters: Array<[string, () => Promise<AppUnderTest>]> = [
  ['express 5', () => expressApp(() => express5())],
  ['express 4', () => expressApp(() => express4() as unknown as Express)],
  ['fastify 5', fastifyApp],
];
