/** One set of scenarios against every adapter, so Express and Fastify can't drift apart. */
import { parseEventId } from '@ssekit/core';
import { watch } from '@ssekit/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { type AppUnderTest, adapters } from './servers.js';

describe.each(adapters)('%s', (_name, start) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function running(): Promise<AppUnderTest> {
    const app = await start();
    cleanups.push(async () => {
      await app.hub.close();
      await app.closeServer();
    });
    return app;
  }

  it('resumes two channels after a dropped socket: missed events once, in id order', async () => {
    const app = await running();
    const client = watch(`${app.url}/ch?ch=a,b`);
    cleanups.push(() => client.close());
    await client.until(() => client.opens === 1, 'open');
    const published = [await app.hub.publish('a', 1), await app.hub.publish('b', 2)];
    await client.until(() => client.ids().length === 2, 'first events');
    app.dropAll();
    for (let i = 3; i <= 6; i++) published.push(await app.hub.publish(i % 2 ? 'a' : 'b', i));
    await client.until(() => client.opens === 2 && client.ids().length === 6, 'resumed');
    published.push(await app.hub.publish('a', 7));
    await client.until(() => client.ids().length === 7, 'live');
    expect(client.ids()).toEqual(published);
    expect(client.events.map((e) => Number(e.data))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const seqs = client.ids().map((id) => parseEventId(id)!.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it('refuses a denied channel with 403 and a closed one with 204, before any SSE header', async () => {
    const app = await running();
    const denied = await fetch(`${app.url}/ch?ch=a,secret`);
    expect(denied.status).toBe(403);
    expect(denied.headers.get('content-type') ?? '').not.toContain('text/event-stream');
    await denied.body?.cancel();
    await app.hub.closeChannel('gone');
    const closed = await fetch(`${app.url}/ch?ch=gone`);
    expect(closed.status).toBe(204);
    expect(await closed.text()).toBe('');
  });

  it('answers HEAD on a channel route with the event-stream headers and holds no subscription', async () => {
    const app = await running();
    const response = await fetch(`${app.url}/ch?ch=a`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(app.hub.stats().clients).toBe(0);
  });

  it('finalises a piped generator parked on an await when the client leaves', async () => {
    const app = await running();
    const client = watch(`${app.url}/ai`);
    cleanups.push(() => client.close());
    await client.until(() => client.events.length === 1, 'first token');
    expect(client.events[0]!.data).toBe('Hello');
    client.close();
    await app.finalised;
  });

  it('rejects a newline in an event name before anything is written', async () => {
    const app = await running();
    const response = await fetch(`${app.url}/bad`);
    expect(response.status).toBe(500);
    expect(response.headers.get('content-type') ?? '').not.toContain('text/event-stream');
    expect(await response.text()).not.toContain('forged');
  });

  it('hub.close() ends connected streams with a final event, and the server closes at once', async () => {
    const app = await start();
    const client = watch(`${app.url}/ch?ch=a`, ['bye']);
    cleanups.push(() => client.close());
    await client.until(() => client.opens === 1, 'open');
    await app.hub.close({ final: { event: 'bye', data: 'restarting' } });
    await app.closeServer();
    await client.until(() => client.events.some((e) => e.type === 'bye'), 'final event');
  });
});
