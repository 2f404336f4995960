/**
 * The stock ticker in a real browser, against the Express and the Fastify server: live prices,
 * exact resume after a dropped socket, the gap signal, and a closed channel.
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Chromium, launchChromium } from './browser.js';
import { FLAVOURS, startTicker, type TickerServer } from './harness.js';
import { screenshotPath, type TickerPage } from './page.js';

const WAIT = { timeout: 10_000 };

let chromium: Chromium;
beforeAll(async () => {
  chromium = await launchChromium();
});
afterAll(async () => {
  await chromium?.close();
});

describe.each(FLAVOURS)('stock ticker on %s', (flavour) => {
  let server: TickerServer | undefined;
  let page: Page | undefined;

  afterEach(async () => {
    await page?.close();
    page = undefined;
    await server?.close();
    server = undefined;
  });

  async function openTicker(ticker: TickerServer): Promise<Page> {
    page = await chromium.newPage();
    await page.goto(ticker.url);
    await page.locator('#status', { hasText: 'live' }).waitFor(WAIT);
    return page;
  }

  const receivedIds = (p: Page) =>
    p.evaluate(() => (globalThis as unknown as TickerPage).ticker.ids);

  it('shows live prices within one tick of events', async () => {
    server = await startTicker(flavour, { intervalMs: 0 });
    const page = await openTicker(server);
    const symbols = server.symbols.length;

    server.feed.tick();
    await page.waitForFunction(
      (n) => (globalThis as unknown as TickerPage).ticker.ids.length >= n,
      symbols,
      WAIT,
    );

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
      await page.waitForFunction(
        (n) => (globalThis as unknown as TickerPage).ticker.ids.length >= n,
        4 * symbols,
        WAIT,
      );
      await page.screenshot({
        path: screenshotPath('stock-ticker.png'),
        fullPage: true,
        animations: 'disabled',
      });
    }
  });

  it('resumes after a dropped socket with no gap and no duplicate', async () => {
    server = await startTicker(flavour, { intervalMs: 20 });
    const page = await openTicker(server);
    await page.waitForFunction(
      () => (globalThis as unknown as TickerPage).ticker.ids.length >= 12,
      undefined,
      WAIT,
    );

    // A network blip: the server destroys the socket while the feed keeps publishing.
    expect(server.traffic.dropOpen()).toBe(1);
    server.feed.tick(); // published while the page is certainly away
    await page.waitForFunction(
      () => (globalThis as unknown as TickerPage).ticker.opens.length >= 2,
      undefined,
      WAIT,
    );

    // Compare up to an id published after the reconnect, once the page has it.
    await server.publishes.until(() => server!.published.length > 0, 'a publish');
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
    server = await startTicker(flavour, { intervalMs: 0, replay: { maxEvents: 4 } });
    const page = await openTicker(server);
    const symbols = server.symbols.length;
    server.feed.tick();
    await page.waitForFunction(
      (n) => (globalThis as unknown as TickerPage).ticker.ids.length >= n,
      symbols,
      WAIT,
    );
    const lastSeen = server.published.at(-1)!;

    // While the page is away, two ticks publish more than the buffer keeps (4 events).
    expect(server.traffic.dropOpen()).toBe(1);
    server.feed.tick();
    server.feed.tick();

    await page.locator('#notice', { hasText: 'resynced' }).waitFor(WAIT);
    await server.publishes.until(
      () => server!.published.length === 3 * symbols,
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
        replay: 'available',
      },
    ]);
    expect(server.traffic.requests[1]!.lastEventId).toBe(lastSeen);
    // After the signal, what the buffer still held.
    await page.waitForFunction(
      (n) => (globalThis as unknown as TickerPage).ticker.ids.length >= n,
      symbols + 4,
      WAIT,
    );
    expect((await receivedIds(page)).slice(symbols)).toEqual(kept);
  });

  it('stops the browser for good when the channel is closed (204, readyState CLOSED)', async () => {
    server = await startTicker(flavour, { intervalMs: 0 });
    const page = await openTicker(server);
    server.feed.tick();
    await page.waitForFunction(
      () => (globalThis as unknown as TickerPage).ticker.ids.length > 0,
      undefined,
      WAIT,
    );

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
      () => server!.traffic.requests.every((r) => r.status !== undefined),
      'responses closed',
    );
    expect(server.traffic.requests.map((r) => r.status)).toEqual([200, 204]);
  });
});
