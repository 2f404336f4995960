/** `http2: true` (h2c) with the node:http2 client: the right headers, no `connection`, no warning. */
import { type ClientHttp2Session, connect, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { channel, createHub, ssekit } from '@ssekit/fastify';
import { TextWatch } from '@ssekit/test-support';
import Fastify from 'fastify';
import { afterEach, expect, it } from 'vitest';

const warnings: Error[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning);
};
let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
  process.off('warning', onWarning);
});

interface H2Response {
  headers: IncomingHttpHeaders;
  until(needle: string): Promise<string>;
  /** Resolves with the whole body when the server ends the stream. */
  ended: Promise<string>;
}

function get(session: ClientHttp2Session, path: string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    stream.setEncoding('utf8');
    const body = new TextWatch();
    stream.on('data', (chunk: string) => body.append(chunk));
    stream.on('error', reject);
    const ended = new Promise<string>((res) => stream.on('end', () => res(body.text)));
    stream.on('response', (headers) =>
      resolve({
        headers,
        until: (needle) =>
          body.until((text) => text.includes(needle), JSON.stringify(needle)).then(() => body.text),
        ended,
      }),
    );
  });
}

it('streams over h2c with the event-stream headers, no connection header and no warning', async () => {
  process.on('warning', onWarning);
  const hub = createHub();
  const app = Fastify({ http2: true });
  cleanup.push(() => app.close());
  await app.register(ssekit, { hub, finalEvent: { event: 'bye' } });
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
  });
  app.get('/hello', async (_request, reply) => {
    reply.sse!.send('over h2', { id: 0 });
  });
  app.get('/prices', channel('prices'));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const session = connect(`http://127.0.0.1:${port}`);
  cleanup.push(() => session.destroy());

  const hello = await get(session, '/hello');
  expect(hello.headers[':status']).toBe(200);
  expect(hello.headers['content-type']).toBe('text/event-stream; charset=utf-8');
  expect(hello.headers['cache-control']).toBe('no-cache, no-transform');
  expect(hello.headers['x-accel-buffering']).toBe('no');
  expect(hello.headers['access-control-allow-origin']).toBe('*');
  expect(hello.headers).not.toHaveProperty('connection');
  expect(await hello.until('\n\n')).toBe('id: 0\ndata: over h2\n\n');

  const prices = await get(session, '/prices');
  const id = await hub.publish('prices', { eur: 1.08 });
  // The client's position first (a bare id: it subscribed before any event), then the event.
  expect(await prices.until('data: {"eur":1.08}\n\n')).toBe(
    `id: ${id.replace(/-\d+$/, '-0')}\n\nid: ${id}\ndata: {"eur":1.08}\n\n`,
  );
  expect(prices.headers).not.toHaveProperty('connection');

  // app.close() ends both open streams and their session (Fastify's defaults would leave an
  // HTTP/2 session open before Node 24), so it does not wait for the client.
  await app.close();
  expect(await hello.ended).toBe('id: 0\ndata: over h2\n\nevent: bye\n\n');
  expect(await prices.ended).toMatch(/data: \{"eur":1\.08\}\n\nevent: bye\n\n$/);

  expect(warnings).toEqual([]);
});
