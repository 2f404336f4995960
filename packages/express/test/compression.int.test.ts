/** `compression` mounted in front must neither break nor buffer the stream. */
import { createHub, type Hub, sse } from '@ssekit/express';
import { deferred, listen, type RawClient, type Running, rawGet } from '@ssekit/test-support';
import { flavours } from '@ssekit/test-support/express';
import compression from 'compression';
import { afterEach, describe, expect, it } from 'vitest';

/** A raw HTTP client that asks for gzip and lets the test await text as it arrives. */
function open(url: string): RawClient {
  return rawGet(url, { headers: ['Accept-Encoding: gzip, deflate, br'] });
}

describe.each(flavours)('$name', ({ create }) => {
  let running: Running | undefined;
  let hub: Hub | undefined;
  afterEach(async () => {
    await hub?.close();
    await running?.close();
    hub = undefined;
    running = undefined;
  });

  it('delivers each event at once with compression() in front', async () => {
    hub = createHub();
    const channelHub = hub;
    const app = create();
    app.use(compression());
    app.use(sse({ hub, heartbeat: false }));
    const subscribed = deferred();
    app.get('/feed', async (_req, res) => {
      await res.sse.subscribe('feed');
      subscribed.resolve();
    });
    app.get('/json', (_req, res) => {
      res.json({ padding: 'x'.repeat(4096) });
    });
    running = await listen(app);

    const reader = open(`${running.url}/feed`);
    await subscribed.promise;
    const { headers } = await reader.head;
    expect(headers['content-encoding']).toBeUndefined();
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
    // Event 2 is published only after event 1 reached the client: a buffering middleware
    // would hold event 1 back and this test would never get past the first wait.
    const first = await channelHub.publish('feed', 'one');
    await reader.until('data: one\n\n');
    const second = await channelHub.publish('feed', 'two');
    await reader.until('data: two\n\n');
    // (First the client's position, a bare id: it subscribed before any event.)
    const position = first.replace(/-\d+$/, '-0');
    expect(reader.body.text).toBe(
      `id: ${position}\n\nid: ${first}\ndata: one\n\nid: ${second}\ndata: two\n\n`,
    );
    reader.destroy();

    // The same middleware still compresses ordinary routes.
    const json = open(`${running.url}/json`);
    expect((await json.head).headers['content-encoding']).toMatch(/^(br|gzip)$/);
    json.destroy();
  });
});
