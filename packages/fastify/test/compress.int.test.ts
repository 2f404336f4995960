/** @fastify/compress registered globally must neither break nor buffer the event stream. */
import compress from '@fastify/compress';
import { channel, createHub, ssekit } from '@ssekit/fastify';
import { listenFastify, rawGet } from '@ssekit/test-support';
import Fastify from 'fastify';
import { afterEach, expect, it } from 'vitest';

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

it('delivers each event uncompressed before the next one is published', async () => {
  const hub = createHub();
  const app = Fastify({ forceCloseConnections: true });
  cleanup.push(() => app.close());
  await app.register(compress, { global: true, threshold: 0 });
  await app.register(ssekit, { hub });
  app.get('/json', async () => ({ compressed: 'x'.repeat(2048) }));
  app.get('/ticks', channel('ticks'));
  const { url } = await listenFastify(app);

  // Compression is on for ordinary routes...
  const json = await rawGet(`${url}/json`, { headers: ['Accept-Encoding: gzip'] });
  expect((await json.head).headers['content-encoding']).toBe('gzip');
  await json.ended;

  // ...and off for the stream, which is flushed event by event.
  const ticks = await rawGet(`${url}/ticks`, { headers: ['Accept-Encoding: gzip, deflate, br'] });
  cleanup.push(() => ticks.destroy());
  const { headers } = await ticks.head;
  expect(headers['content-encoding']).toBeUndefined();
  expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
  const first = await hub.publish('ticks', 1);
  // The client's position first (a bare id: it subscribed before any event).
  const position = `id: ${first.replace(/-\d+$/, '-0')}\n\n`;
  expect(await ticks.until('data: 1\n\n')).toBe(`${position}id: ${first}\ndata: 1\n\n`);
  const second = await hub.publish('ticks', 2);
  expect(await ticks.until('data: 2\n\n')).toBe(
    `${position}id: ${first}\ndata: 1\n\nid: ${second}\ndata: 2\n\n`,
  );
});
