/**
 * The README's demo command: `node examples/demo.mjs` serves an index that links both examples
 * in both flavours, from one process and one hub, and exits cleanly on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Chromium, launchChromium } from './browser.js';
import { Watched } from './harness.js';
import type { TickerPage, TokensPage } from './page.js';

const WAIT = { timeout: 10_000 };
const DEMO = fileURLToPath(new URL('../../examples/demo.mjs', import.meta.url));

interface Demo {
  child: ChildProcess;
  url: string;
  output: () => string;
  printed: Watched;
}

async function startDemo(): Promise<Demo> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1' };
  delete env.REDIS_URL;
  const child = spawn(process.execPath, [DEMO], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const printed = new Watched();
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    printed.changed();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('exit', () => printed.changed());
  await printed.until(
    () => /http:\/\/\S+\//.test(output) || child.exitCode !== null,
    'the demo URL',
  );
  const url = /http:\/\/\S+\//.exec(output)?.[0];
  if (!url) throw new Error(`the demo did not start:\n${output}`);
  return { child, url, output: () => output, printed };
}

let chromium: Chromium;
let demo: Demo | undefined;
let page: Page | undefined;

beforeAll(async () => {
  chromium = await launchChromium();
});
afterAll(async () => {
  await page?.close();
  if (demo && demo.child.exitCode === null) demo.child.kill('SIGKILL');
  await chromium?.close();
});

async function openTicker(p: Page, link: string): Promise<string> {
  await p.goto(demo!.url);
  await p.click(link);
  await p.waitForFunction(
    () => (globalThis as unknown as TickerPage).ticker.ids.length >= 6,
    undefined,
    WAIT,
  );
  const ids = await p.evaluate(() => (globalThis as unknown as TickerPage).ticker.ids);
  return ids[0]!.split('-')[0]!;
}

it('serves both examples in both flavours from one hub, and exits cleanly on SIGTERM', async () => {
  demo = await startDemo();
  expect(demo.output()).toContain('memory store');
  page = await chromium.newPage();

  // Both tickers live, on the same hub: their ids share one epoch.
  const expressEpoch = await openTicker(page, '#ticker-express');
  expect(new URL(page.url()).pathname).toBe('/express/stock-ticker/');
  const fastifyEpoch = await openTicker(page, '#ticker-fastify');
  expect(new URL(page.url()).pathname).toBe('/fastify/stock-ticker/');
  expect(fastifyEpoch).toBe(expressEpoch);

  for (const link of ['#tokens-express', '#tokens-fastify']) {
    await page.goto(demo.url);
    await page.click(link);
    await page.click('#send');
    await page.waitForFunction(
      () => (globalThis as unknown as TokensPage).tokens.received >= 5,
      undefined,
      WAIT,
    );
    const before = demo.output().split('model finalised').length;
    await page.click('#stop');
    await demo.printed.until(
      () => demo!.output().split('model finalised').length > before,
      `the demo to log "model finalised" after Stop on ${link}`,
    );
  }

  // With a ticker page connected, SIGTERM ends the streams and the server, and node exits.
  await openTicker(page, '#ticker-fastify');
  const exited = once(demo.child, 'exit');
  demo.child.kill('SIGTERM');
  await demo.printed.until(() => demo!.child.exitCode !== null, 'the demo to exit', 5_000);
  const [code] = await exited;
  expect(code).toBe(0);
  expect(demo.output()).toContain('SIGTERM: closing the streams and the server');
  await page.locator('#status', { hasText: 'reconnecting' }).waitFor(WAIT);
});
