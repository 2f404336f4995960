/**
 * The stock ticker in a real browser, against the Express and the Fastify server: live prices,
 * exact resume after a dropped socket, the gap signal, and a closed channel.
 */
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { describeExample, WAIT } from './example-tests.js';
import { startTicker, type TickerServer } from './harness.js';
import { screenshotPath, type TickerPage } from './page.js';

describeExample('stock ticker on %s', (flavour, session) => {
  async function openTicker(ticker: TickerServer): Promise<Page> {
    const page = await session.open(ticker.url);
    await page.locator('#status', { hasText: 'live' }).waitFor(WAIT);
    return page;
  }

  const receivedIds = (p: Page) =>
    p.evaluate(() => (globalThis as unknown as TickerPage).ticker.ids);

  /** Waits until the page has received at least `count` price events. */
  const waitForIds = (p: Page, count: number) =>
    p.waitForFunction(
      (n) => (globalThis as unknown as TickerPage).ticker.ids.length >= n,
      count,
      WAIT,
    );

  it('shows live prices within one tick of events', async () => {
    const server = session.serve(await startTicker(flavour, { intervalMs: 0 }));
    const page = await openTicker(server);
    const symbols = server.symbols.length;

    server.feed.tick();
    await waitForIds(page, symbols);

    // One event per symbol fills the table: the page needs no more than that.
    expect(await page.locator('#prices tr').count()).toBe(symbols);
    expect(await page.locator('#prices tr td:first-child').allTextContents()).toEqual(
      server.symbols,
    );
    for (const price of await page.locator('#prices .price').allTextContents())
      expect(price).toMatch(/^\d+\.\d\d$/);
    expect(await receivedIds(page)).toEqual(server.published);

    if (flavour === 'express') {
      // A few more ticks so the screenshot shows moves in both directions.
      for (let i = 0; i < 3; i++) server.feed.tick();
      await waitForIds(page, 4 * symbols);
      await page.screenshot({
        path: screenshotPath('stock-ticker.png'),
        fullPage: true,
        animations: 'disabled',
      });
    }
  });

  it('resumes after a dropped socket with no gap and no duplicate', async () => {
    const server = session.serve(await startTicker(flavour, { intervalMs: 20 }));
    const page = await openTicker(server);
    await waitForIds(page, 12);

    // A network blip: the server destroys the socket while the feed keeps publishing.
    expect(server.traffic.dropOpen()).toBe(1);
    server.feed.tick(); // published while the page is certainly away
    await page.waitForFunction(
      () => (globalThis as unknown as TickerPage).ticker.opens.length >= 2,
      undefined,
      WAIT,
    );

    // Compare up to an id published after the reconnect, once the page has it.
    await server.publishes.until(() => server.published.length > 0, 'a publish');
    const target = server.published.at(-1)!;
    await page.waitForFunction(
      (id) => (globalThis as unknown as TickerPage).ticker.ids.includes(id),
      target,
      WAIT,
    );

    const { ids, opens } = await page.evaluate(() => {
      const { ticker } = globalThis as unknown as TickerPage;
      return { ids: [...ticker.ids], opens: [...ticker.opens] };
    });
    const received = ids.slice(0, ids.indexOf(target) + 1);
    const start = server.published.indexOf(received[0]!);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(received).toEqual(server.published.slice(start, start + received.length));

    // The browser reconnected by itself and sent the last id it had received.
    const sse = server.traffic.requests;
    expect(sse).toHaveLength(2);
    expect(sse[0]!.lastEventId).toBeUndefined();
    expect(opens[1]).toBeGreaterThan(0);
    expect(sse[1]!.lastEventId).toBe(ids[opens[1]! - 1]);
    expect(await page.locator('#status').textContent()).toBe('live');
  });

  it('signals an evicted Last-Event-ID with the gap event and shows "resynced"', async () => {
    const server = session.serve(
      await startTicker(flavour, { intervalMs: 0, replay: { maxEvents: 4 } }),
    );
    const page = await openTicker(server);
    const symbols = server.symbols.length;
    server.feed.tick();
    await waitForIds(page, symbols);
    const lastSeen = server.published.at(-1)!;

    // While the page is away, two ticks publish more than the buffer keeps (4 events).
    expect(server.traffic.dropOpen()).toBe(1);
    server.feed.tick();
    server.feed.tick();

    await page.locator('#notice', { hasText: 'resynced' }).waitFor(WAIT);
    await server.publishes.until(
      () => server.published.length === 3 * symbols,
      'three ticks published',
    );
    const kept = server.published.slice(-4);
    const gaps = await page.evaluate(() => (globalThis as unknown as TickerPage).ticker.gaps);
    expect(gaps).toEqual([
      {
        reason: 'evicted',
        lastEventId: lastSeen,
        oldestId: kept[0],
        channels: ['prices'],
        byChannel: { prices: { reason: 'evicted', oldestId: kept[0] } },
        replay: 'available',
      },
    ]);
    expect(server.traffic.requests[1]!.lastEventId).toBe(lastSeen);
    // After the signal, what the buffer still held.
    await waitForIds(page, symbols + 4);
    expect((await receivedIds(page)).slice(symbols)).toEqual(kept);
  });

  it('stops the browser for good when the channel is closed (204, readyState CLOSED)', async () => {
    const server = session.serve(await startTicker(flavour, { intervalMs: 0 }));
    const page = await openTicker(server);
    server.feed.tick();
    await waitForIds(page, 1);

    const refused = page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/prices' && r.status() === 204,
      WAIT,
    );
    await server.hub.closeChannel('prices');
    await refused;
    await page.waitForFunction(
      () => (globalThis as unknown as TickerPage).ticker.source.readyState === 2,
      undefined,
      WAIT,
    );
    await page.locator('#status', { hasText: 'closed by the server' }).waitFor(WAIT);
    await server.traffic.until(
      () => server.traffic.requests.every((r) => r.status !== undefined),
      'responses closed',
    );
    expect(server.traffic.requests.map((r) => r.status)).toEqual([200, 204]);
  });
});
