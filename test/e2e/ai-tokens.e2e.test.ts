/**
 * AI tokens as resumable runs, in a real browser, against the Express and the Fastify server and
 * in both request shapes: `fetch` (POST /chat answers with the stream) and `eventsource` (POST
 * /chat/new answers the key, then EventSource on /chat/:key). A reload, a second tab and a dropped
 * connection each show the model's answer exactly once; Stop after a reload finalises the model once.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { describeExample, WAIT } from './example-tests.js';
import { type SseRequestRecord, startTokens, type TokensServer } from './harness.js';
import { screenshotPath, type TokensPage } from './page.js';

/** The page's preset question. */
const PROMPT = 'How do Server-Sent Events work?';
const VIA = ['fetch', 'eventsource'] as const;

/** Fast enough that a whole answer (169 words) takes about 2.5 s; slow enough to act mid-answer. */
const QUICK = { minDelayMs: 10, maxDelayMs: 20 };

const words = (text: string): number => text.match(/\S+\s*/g)?.length ?? 0;

const tokensOf = (page: Page) => page.evaluate(() => (globalThis as unknown as TokensPage).tokens);

/** Waits until the page shows at least `count` words. */
const waitForWords = (page: Page, count: number) =>
  page.waitForFunction(
    (n) => (globalThis as unknown as TokensPage).tokens.received >= n,
    count,
    WAIT,
  );

/** Waits until the page's run ended (done, stopped, error, ...) and returns its state. */
async function waitForEnd(page: Page): Promise<TokensPage['tokens']['state']> {
  await page.waitForFunction(
    () =>
      !['starting', 'connecting', 'streaming', 'reconnecting'].includes(
        (globalThis as unknown as TokensPage).tokens.state,
      ),
    undefined,
    WAIT,
  );
  return (await tokensOf(page)).state;
}

const describeRequests = (requests: SseRequestRecord[]) =>
  requests.map((r) => `${r.method} ${r.url.replace(/[0-9a-f-]{36}/, 'KEY')}`);

describeExample('ai tokens on %s', (flavour, session) => {
  describe.each(VIA)('via %s', (via) => {
    /** Opens the page in this request shape and sends its preset question; resolves the run's key. */
    async function ask(server: TokensServer): Promise<{ page: Page; key: string }> {
      const page = await session.open(`${server.url}?via=${via}`);
      await page.click('#send');
      await page.waitForFunction(
        () => (globalThis as unknown as TokensPage).tokens.key !== null,
        undefined,
        WAIT,
      );
      return { page, key: (await tokensOf(page)).key! };
    }

    it('streams the whole answer, ends it with done, asks nothing after it, and shows it again on reload', async () => {
      const server = session.serve(await startTokens(flavour, { minDelayMs: 0, maxDelayMs: 2 }));
      const { page, key } = await ask(server);

      expect(await waitForEnd(page)).toBe('done');
      const answer = server.model.answerFor(PROMPT);
      expect(await page.locator('#text').textContent()).toBe(answer);
      expect((await tokensOf(page)).received).toBe(words(answer));
      await server.logged.until(() => server.log.length > 0, 'the model to be finalised');
      expect(server.log).toEqual([`[ai-tokens] model finalised ${key} (answer complete)`]);
      // The page closed its stream at `done`: no reconnect, which would get 204.
      await server.traffic.until(
        () => server.traffic.requests.every((r) => r.status !== undefined),
        'every request to end',
      );
      expect(describeRequests(server.traffic.requests)).toEqual(
        via === 'fetch' ? ['POST /chat'] : ['POST /chat/new', 'GET /chat/KEY'],
      );

      // The run is retained after its end: a reload shows the whole answer again, and `done`.
      await page.reload();
      expect(await waitForEnd(page)).toBe('done');
      expect(await page.locator('#text').textContent()).toBe(answer);
      expect(server.model.stats).toEqual({ started: 1, completed: 1, finalised: 1 });
    });

    it('after a reload mid-answer, shows the generator’s full output exactly once', async () => {
      const server = session.serve(await startTokens(flavour, QUICK));
      const { page, key } = await ask(server);
      await waitForWords(page, 20);
      if (flavour === 'express' && via === 'fetch') {
        await page.screenshot({
          path: screenshotPath('ai-tokens.png'),
          fullPage: true,
          animations: 'disabled',
        });
      }
      expect(server.model.stats.completed).toBe(0);

      await page.reload();
      expect(new URL(page.url()).searchParams.get('run')).toBe(key);
      expect(await waitForEnd(page)).toBe('done');
      // The reloaded page followed the run from its start: the whole answer, once.
      const answer = server.model.answerFor(PROMPT);
      expect(await page.locator('#text').textContent()).toBe(answer);
      expect((await tokensOf(page)).received).toBe(words(answer));
      expect(server.model.stats).toEqual({ started: 1, completed: 1, finalised: 1 });
      const follow = server.traffic.requests.find((r) => r.method === 'GET');
      expect(follow?.url).toBe(`/chat/${key}`);
      expect(follow?.lastEventId).toBeUndefined();
    });

    it('Stop after a reload stops the run: the server finalises the model once', async () => {
      const server = session.serve(await startTokens(flavour, { minDelayMs: 20, maxDelayMs: 40 }));
      const { page, key } = await ask(server);
      await waitForWords(page, 10);

      await page.reload();
      // Following again: the replayed words are back on screen, and the run is still live.
      await waitForWords(page, 10);
      expect((await tokensOf(page)).state).toBe('streaming');
      await page.click('#stop');

      expect(await waitForEnd(page)).toBe('stopped');
      await server.logged.until(() => server.log.length > 0, 'the model to be finalised');
      expect(server.log).toEqual([`[ai-tokens] model finalised ${key} (stopped)`]);
      expect(server.model.stats).toEqual({ started: 1, completed: 0, finalised: 1 });
      const shown = (await page.locator('#text').textContent()) ?? '';
      expect(shown.length).toBeGreaterThan(0);
      expect(server.model.answerFor(PROMPT).startsWith(shown)).toBe(true);
      expect(describeRequests(server.traffic.requests)).toContain(`POST /chat/KEY/stop`);
      expect(await page.locator('#stop').isDisabled()).toBe(true);
    });

    it('two tabs following one run show the same answer', async () => {
      const server = session.serve(await startTokens(flavour, QUICK));
      const { page: first, key } = await ask(server);
      await waitForWords(first, 10);

      // The address holds the run: the same link, in a second tab, follows the same answer.
      const second = await session.open(first.url());
      await waitForWords(second, 1);
      expect((await tokensOf(second)).key).toBe(key);
      expect(server.model.stats.completed).toBe(0);

      expect(await waitForEnd(first)).toBe('done');
      expect(await waitForEnd(second)).toBe('done');
      const answer = server.model.answerFor(PROMPT);
      expect(await first.locator('#text').textContent()).toBe(answer);
      expect(await second.locator('#text').textContent()).toBe(answer);
      expect((await tokensOf(second)).received).toBe(words(answer));
      // One model for both tabs.
      expect(server.model.stats).toEqual({ started: 1, completed: 1, finalised: 1 });
    });

    it('resumes from the last id after a dropped connection, missing and repeating nothing', async () => {
      const server = session.serve(await startTokens(flavour, QUICK));
      const { page, key } = await ask(server);
      await waitForWords(page, 20);

      // A network blip: the server destroys the page's stream socket.
      expect(server.traffic.dropOpen()).toBe(1);
      expect(await waitForEnd(page)).toBe('done');
      const answer = server.model.answerFor(PROMPT);
      expect(await page.locator('#text').textContent()).toBe(answer);
      expect((await tokensOf(page)).received).toBe(words(answer));
      // The page asked again from its last id: EventSource with Last-Event-ID, fetch with ?lastEventId=.
      const resumed = server.traffic.requests.filter((r) => r.method === 'GET').at(-1);
      const from =
        via === 'fetch'
          ? new URL(resumed?.url ?? '/', 'http://x').searchParams.get('lastEventId')
          : resumed?.lastEventId;
      expect(resumed?.path).toBe(`/chat/${key}`);
      expect(from).toMatch(/-\d+$/);
    });
  });
});
