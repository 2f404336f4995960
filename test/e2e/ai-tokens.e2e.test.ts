/**
 * AI token streaming in a real browser, against the Express and the Fastify server: the answer
 * streams in, Stop finalises the server's generator, and a complete answer ends the stream.
 */
import { expect, it } from 'vitest';
import { describeExample, WAIT } from './example-tests.js';
import { startTokens } from './harness.js';
import { screenshotPath, type TokensPage } from './page.js';

describeExample('ai tokens on %s', (flavour, session) => {
  /** Opens the page and sends its preset question. */
  async function ask(url: string) {
    const page = await session.open(url);
    await page.click('#send');
    return page;
  }

  it('streams the answer, and Stop finalises the generator on the server', async () => {
    const server = session.serve(await startTokens(flavour, { minDelayMs: 20, maxDelayMs: 40 }));
    const page = await ask(server.url);

    await page.waitForFunction(
      () => (globalThis as unknown as TokensPage).tokens.received >= 50,
      undefined,
      WAIT,
    );
    const streamed = await page.locator('#text').textContent();
    expect(streamed).toMatch(
      /^You asked: "How do Server-Sent Events work\?"\. Server-Sent Events keep /,
    );
    expect(await page.locator('#status').textContent()).toBe('streaming');
    if (flavour === 'express') {
      await page.screenshot({
        path: screenshotPath('ai-tokens.png'),
        fullPage: true,
        animations: 'disabled',
      });
    }

    await page.click('#stop');
    await server.logged.until(() => server.log.length > 0, 'the generator to be finalised');
    expect(server.log).toEqual(['generator finalised (stopped by the client)']);
    expect(server.model.stats).toEqual({ started: 1, completed: 0, finalised: 1 });
    expect(await page.locator('#status').textContent()).toBe('stopped');
    // The client really left: the server saw the request end without a reconnect.
    await server.traffic.until(
      () => server.traffic.requests[0]?.status !== undefined,
      'the request to close',
    );
    expect(server.traffic.requests).toHaveLength(1);
  });

  it('ends a complete answer with a done event, and the browser does not ask again', async () => {
    const server = session.serve(await startTokens(flavour, { minDelayMs: 0, maxDelayMs: 2 }));
    const page = await ask(server.url);

    await page.waitForFunction(
      () => (globalThis as unknown as TokensPage).tokens.state !== 'streaming',
      undefined,
      WAIT,
    );
    expect(await page.evaluate(() => (globalThis as unknown as TokensPage).tokens.state)).toBe(
      'done',
    );
    expect(await page.locator('#text').textContent()).toMatch(
      /finalised at once instead of running on for nobody\.$/,
    );
    await server.logged.until(() => server.log.length > 0, 'the generator to be finalised');
    expect(server.log).toEqual(['generator finalised (answer complete)']);
    expect(server.model.stats).toEqual({ started: 1, completed: 1, finalised: 1 });
    expect(server.traffic.requests).toHaveLength(1);
  });
});
