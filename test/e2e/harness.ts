/**
 * Starts the example servers in this process, on 127.0.0.1 port 0, from the factories the
 * examples export, and watches their SSE traffic at the node:http level (the same way for
 * Express and Fastify): each request's Last-Event-ID, its final status, and its socket.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createHub, type Hub, type ReplayLimits, type SseStreamOptions } from '@ssekit/core';

export type Flavour = 'express' | 'fastify';
export const FLAVOURS: readonly Flavour[] = ['express', 'fastify'];

/** Something tests wait for: re-checked whenever the thing it watches changes. */
export class Watched {
  private readonly waiters = new Set<() => void>();

  changed(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves once `condition()` holds; rejects after `timeoutMs`, naming what it waited for. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}

export interface SseRequestRecord {
  method: string;
  path: string;
  /** The path and the query, e.g. `/chat/KEY?lastEventId=...`. */
  url: string;
  /** The Last-Event-ID header the browser sent, if any. */
  lastEventId: string | undefined;
  /** The response's status, once it closed. */
  status: number | undefined;
  socket: Socket;
}

/** The SSE requests a server saw, for paths the caller names. */
export class SseTraffic extends Watched {
  readonly requests: SseRequestRecord[] = [];

  constructor(server: Server, isSse: (path: string) => boolean) {
    super();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (!isSse(path)) return;
      const header = req.headers['last-event-id'];
      const record: SseRequestRecord = {
        method: req.method ?? 'GET',
        path,
        url: req.url ?? '/',
        lastEventId: typeof header === 'string' ? header : undefined,
        status: undefined,
        socket: req.socket,
      };
      this.requests.push(record);
      res.once('close', () => {
        record.status = res.statusCode;
        this.changed();
      });
      this.changed();
    });
  }

  /** Destroys the sockets of the SSE responses still open: a network blip, not a close. */
  dropOpen(): number {
    const open = this.requests.filter((r) => r.status === undefined && !r.socket.destroyed);
    for (const record of open) record.socket.destroy();
    return open.length;
  }
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** What the examples' Fastify factories return, as far as the tests use it. */
interface FastifyApp {
  readonly server: Server;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

interface Listening {
  url: string;
  traffic: SseTraffic;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0, with the SSE traffic watched from the first request on. */
async function listen(
  app: RequestListener | FastifyApp,
  isSse: (path: string) => boolean,
): Promise<Listening> {
  if (typeof app === 'function') {
    const server = createServer(app);
    const traffic = new SseTraffic(server, isSse);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      traffic,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }
  const traffic = new SseTraffic(app.server, isSse);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`,
    traffic,
    close: () => app.close(),
  };
}

/** Imports an example module; its shape is declared by the caller (the examples are plain JS). */
async function loadExample<T>(path: string): Promise<T> {
  return (await import(fileURLToPath(new URL(`../../examples/${path}`, import.meta.url)))) as T;
}

// ---------------------------------------------------------------------------------------------
// Stock ticker

interface PriceFeed {
  tick(): void;
  stop(): void;
}

interface PricesModule {
  SYMBOLS: string[];
  startPriceFeed(
    hub: Hub,
    options: { intervalMs?: number; onPublish?: (id: string) => void },
  ): PriceFeed;
}

interface TickerModule {
  createTickerApp(options: {
    hub: Hub;
    stream?: SseStreamOptions;
  }): RequestListener | Promise<FastifyApp>;
}

export interface TickerOptions {
  /** Feed period; 0 publishes only on `feed.tick()`. */
  intervalMs: number;
  replay?: ReplayLimits;
  /** The `retry:` the server sends: how soon the browser reconnects. */
  retry?: number;
}

export interface TickerServer extends Listening {
  hub: Hub;
  feed: PriceFeed;
  symbols: string[];
  /** Ids the feed published, in order. */
  published: string[];
  publishes: Watched;
}

export async function startTicker(flavour: Flavour, options: TickerOptions): Promise<TickerServer> {
  const prices = await loadExample<PricesModule>('stock-ticker/prices.mjs');
  const { createTickerApp } = await loadExample<TickerModule>(`stock-ticker/${flavour}.mjs`);
  const hub = createHub(options.replay ? { replay: options.replay } : {});
  const app = await createTickerApp({
    hub,
    stream: { retry: options.retry ?? 100, heartbeat: false },
  });
  const listening = await listen(app, (path) => path === '/prices');
  const published: string[] = [];
  const publishes = new Watched();
  const feed = prices.startPriceFeed(hub, {
    intervalMs: options.intervalMs,
    onPublish: (id) => {
      published.push(id);
      publishes.changed();
    },
  });
  return {
    ...listening,
    hub,
    feed,
    symbols: prices.SYMBOLS,
    published,
    publishes,
    async close() {
      feed.stop();
      await hub.close();
      await listening.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// AI tokens

export interface ModelStats {
  started: number;
  completed: number;
  finalised: number;
}

interface FakeModel {
  stats: ModelStats;
  /** The answer the model gives to `prompt`, in full. */
  answerFor(prompt: string): string;
}

interface FakeModelModule {
  createFakeModel(options: {
    minDelayMs?: number;
    maxDelayMs?: number;
    log?: (line: string) => void;
  }): FakeModel;
}

interface TokensModule {
  createTokensApp(options: {
    hub: Hub;
    model: FakeModel;
    stream?: SseStreamOptions;
  }): RequestListener | Promise<FastifyApp>;
}

export interface TokensServer extends Listening {
  hub: Hub;
  model: FakeModel;
  /** What the server logged: the model's `[ai-tokens] model finalised KEY (...)` lines. */
  log: string[];
  logged: Watched;
}

/**
 * `minDelayMs`/`maxDelayMs`: the fake model's pause before each word. The traffic watched is
 * every request under `/chat` (POST /chat, POST /chat/new, GET /chat/:key, POST /chat/:key/stop).
 */
export async function startTokens(
  flavour: Flavour,
  delays: { minDelayMs: number; maxDelayMs: number },
): Promise<TokensServer> {
  const { createFakeModel } = await loadExample<FakeModelModule>('ai-tokens/fake-model.mjs');
  const { createTokensApp } = await loadExample<TokensModule>(`ai-tokens/${flavour}.mjs`);
  const log: string[] = [];
  const logged = new Watched();
  // The log line the server prints to stdout, captured here instead.
  const model = createFakeModel({
    ...delays,
    log: (line) => {
      log.push(line);
      logged.changed();
    },
  });
  const hub = createHub();
  // retry: a page whose connection dropped asks again 100 ms later.
  const app = await createTokensApp({ hub, model, stream: { heartbeat: false, retry: 100 } });
  const listening = await listen(app, (path) => path === '/chat' || path.startsWith('/chat/'));
  return {
    ...listening,
    hub,
    model,
    log,
    logged,
    async close() {
      await hub.close();
      await listening.close();
    },
  };
}
