/**
 * What the example test files share: one Chromium per file, the tests run once per flavour, and
 * each test's pages and example server are closed after it (the pages first, then the server).
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { type Chromium, launchChromium } from './browser.js';
import { FLAVOURS, type Flavour } from './harness.js';

export const WAIT = { timeout: 10_000 };

interface Closable {
  close(): Promise<void>;
}

export interface ExampleSession {
  /** Closes `server` after the test; returns it. */
  serve<S extends Closable>(server: S): S;
  /** A new page (a new tab) on `url`, closed after the test. */
  open(url: string): Promise<Page>;
}

/** `describe.each(FLAVOURS)(title, ...)`, with the browser and the cleanup in place. */
export function describeExample(
  title: string,
  tests: (flavour: Flavour, session: ExampleSession) => void,
): void {
  let chromium: Chromium;
  beforeAll(async () => {
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
  });

  describe.each(FLAVOURS)(title, (flavour) => {
    let server: Closable | undefined;
    const pages: Page[] = [];

    afterEach(async () => {
      for (const page of pages.splice(0)) await page.close();
      await server?.close();
      server = undefined;
    });

    tests(flavour, {
      serve(started) {
        server = started;
        return started;
      },
      async open(url) {
        const page = await chromium.newPage();
        pages.push(page);
        await page.goto(url);
        return page;
      },
    });
  });
}
