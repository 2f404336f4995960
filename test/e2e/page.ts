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
    /** Words shown since the page started following the run. */
    received: number;
    state:
      | 'idle'
      | 'starting'
      | 'connecting'
      | 'streaming'
      | 'reconnecting'
      | 'done'
      | 'stopped'
      | 'error'
      | 'interrupted'
      | 'gone';
    /** The run followed, once known (also in the address, `?run=KEY`). */
    key: string | null;
    via: 'fetch' | 'eventsource' | null;
    /** The id of the last word received. */
    lastId: string | null;
  };
}

/** Where the README's screenshots go. */
export function screenshotPath(name: string): string {
  return fileURLToPath(new URL(`../../docs/images/${name}`, import.meta.url));
}
