/**
 * What the example pages keep on `window` for these tests. Functions handed to
 * `page.waitForFunction` run in the browser: they reach these through `globalThis`.
 */
import { fileURLToPath } from 'node:url';

export interface GapNotice {
  reason: string;
  lastEventId: string;
  oldestId: string | null;
  channels: string[];
  replay: string;
}

export interface TickerPage {
  ticker: {
    /** Ids of the price events received, in order. */
    ids: string[];
    /** For each `open`: how many ids had been received before it. */
    opens: number[];
    gaps: GapNotice[];
    source: { readyState: number };
  };
}

export interface TokensPage {
  tokens: {
    received: number;
    state: 'idle' | 'streaming' | 'done' | 'stopped' | 'interrupted';
  };
}

/** Where the README's screenshots go. */
export function screenshotPath(name: string): string {
  return fileURLToPath(new URL(`../../docs/images/${name}`, import.meta.url));
}
