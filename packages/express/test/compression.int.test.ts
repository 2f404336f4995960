/** `compression` mounted in front must neither break nor buffer the stream. */
import { get, type IncomingMessage } from 'node:http';
import { createHub, type Hub, sse } from '@ssekit/express';
import compression from 'compression';
import { afterEach, describe, expect, it } from 'vitest';
import { flavours } from './support/flavours.js';
import { deferred, listen, type Running } from './support/net.js';

/** A raw HTTP client that asks for gzip and lets the test await text as it arrives. */
class RawReader {
  text = '';
  private waiters: Array<{ needle: string; resolve: () => void }> = [];
  constructor(readonly response: IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.text += chunk;
      this.waiters = this.waiters.filter((w) => {
        if (!this.text.includes(w.needle)) return true;
        w.resolve();
        return false;
      });
    });
  }
  until(needle: string): Promise<void> {
    if (this.text.includes(needle)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ needle, resolve }));
  }
}

function open(url: string): Promise<RawReader> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { 'accept-encoding': 'gzip, deflate, br' } }, (res) =>
      resolve(new RawReader(res)),
    );
    req.on('error', reject);
  });
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

    const reader = await open(`${running.url}/feed`);
    await subscribed.promise;
    expect(reader.response.headers['content-encoding']).toBeUndefined();
    expect(reader.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    // Event 2 is published only after event 1 reached the client: a buffering middleware
    // would hold event 1 back and this test would never get past the first wait.
    const first = await channelHub.publish('feed', 'one');
    await reader.until('data: one\n\n');
    const second = await channelHub.publish('feed', 'two');
    await reader.until('data: two\n\n');
    expect(reader.text).toBe(`id: ${first}\ndata: one\n\nid: ${second}\ndata: two\n\n`);
    reader.response.destroy();

    // The same middleware still compresses ordinary routes.
    const json = await open(`${running.url}/json`);
    expect(json.response.headers['content-encoding']).toMatch(/^(br|gzip)$/);
    json.response.destroy();
  });
});
