/**
 * Resumable runs through both adapters and both request shapes (issue 13): `POST` that answers
 * with the stream and tells the key, and `POST` that returns the key for `new EventSource(...)`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHub, type Hub } from '@ssekit/core';
import { run as expressRun, sse as expressSse } from '@ssekit/express';
import { run as fastifyRun, sse as fastifySse } from '@ssekit/fastify';
import { cleanupAfterEach, watch } from '@ssekit/test-support';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

const cleanups = cleanupAfterEach();

/** A fake model: `n` tokens, one per turn of the event loop, stopping when its signal aborts. */
async function* model(n: number, signal: AbortSignal): AsyncGenerator<string> {
  for (let i = 0; i < n && !signal.aborted; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    yield `t${i} `;
  }
}
const answer = (n: number): string => Array.from({ length: n }, (_, i) => `t${i} `).join('');

/**
 * Routes: `POST /chat` answers with the run's stream; `POST /chat/new` answers `{ key }`;
 * `GET /chat/:key` follows; `POST /chat/:key/stop` stops it.
 */
type Build = (hub: Hub, tokens: number) => Promise<string>;

const onExpress: Build = async (hub, tokens) => {
  const app = express();
  app.use(expressSse({ hub, heartbeat: false, retry: 20 }));
  app.post('/chat', async (_req, res) => {
    await res.sse!.startRun((signal) => model(tokens, signal));
  });
  app.post('/chat/new', async (_req, res) => {
    const run = await hub.startRun((signal) => model(tokens, signal));
    res.json({ key: run.key });
  });
  app.get(
    '/chat/:key',
    expressRun((req) => req.params.key!),
  );
  app.post('/chat/:key/stop', async (req, res) => {
    res.json({ stopped: await hub.stopRun(req.params.key!) });
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

const onFastify: Build = async (hub, tokens) => {
  const app = Fastify();
  await app.register(fastifySse, { hub, heartbeat: false, retry: 20 });
  app.post('/chat', { sse: true }, async (_request, reply) => {
    await reply.sse!.startRun((signal) => model(tokens, signal));
  });
  app.post('/chat/new', async () => {
    const run = await hub.startRun((signal) => model(tokens, signal));
    return { key: run.key };
  });
  app.get(
    '/chat/:key',
    fastifyRun((request) => (request.params as { key: string }).key),
  );
  app.post('/chat/:key/stop', async (request) => ({
    stopped: await hub.stopRun((request.params as { key: string }).key),
  }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
};

function hubFor(): Hub {
  const hub = createHub();
  cleanups.push(() => hub.close());
  return hub;
}

describe.each([
  ['express', onExpress],
  ['fastify', onFastify],
] as Array<[string, Build]>)('%s', (_name, build) => {
  it('POST answers with the stream and the key; after a lost connection GET resumes exactly', async () => {
    const url = await build(hubFor(), 200);
    const controller = new AbortController();
    const response = await fetch(`${url}/chat`, { method: 'POST', signal: controller.signal });
    expect(response.status).toBe(200);
    const key = response.headers.get('sse-run-key');
    expect(key).toBeTruthy();
    const seen: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => seen.push(event) });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    // Read until some tokens arrived, then lose the connection.
    while (seen.filter((e) => e.event === undefined).length < 20) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    controller.abort();
    expect(seen[0]).toMatchObject({ event: 'ssekit-run', data: JSON.stringify({ key }) });
    const first = seen.filter((e) => e.event === undefined);
    const lastId = first.at(-1)!.id!;
    // As a fetch client would; EventSource's own Last-Event-ID header wins on its reconnects.
    const rest = watch(`${url}/chat/${key}?lastEventId=${lastId}`, ['done']);
    cleanups.push(() => rest.close());
    await rest.until(() => rest.source.readyState === 2, 'the rest, then closed for good');
    const text =
      first.map((e) => e.data).join('') +
      rest.events
        .filter((e) => e.type === 'message')
        .map((e) => e.data)
        .join('');
    expect(text).toBe(answer(200));
    expect(rest.events.at(-1)?.type).toBe('done');
  });

  it('POST answers { key }; EventSource follows it, and a stop from another request ends it', async () => {
    const url = await build(hubFor(), 100_000);
    const { key } = (await (await fetch(`${url}/chat/new`, { method: 'POST' })).json()) as {
      key: string;
    };
    const client = watch(`${url}/chat/${key}`, ['stopped']);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length >= 5, 'some tokens');
    const stop = (await (await fetch(`${url}/chat/${key}/stop`, { method: 'POST' })).json()) as {
      stopped: boolean;
    };
    expect(stop.stopped).toBe(true);
    await client.until(() => client.source.readyState === 2, 'stopped, then closed for good');
    expect(client.events.at(-1)?.type).toBe('stopped');
  });

  it('an unknown key answers 404 before any header', async () => {
    const url = await build(hubFor(), 1);
    const response = await fetch(`${url}/chat/nope`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type') ?? '').not.toContain('event-stream');
  });
});
