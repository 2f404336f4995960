/**
 * Express and Fastify expose the same names, option keys, validation, session members and error
 * contract (issue 14). Each check fails when something exists on one adapter only; what is
 * adapter-specific on purpose is listed here, with the reason.
 */
import { once } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createHub } from '@ssekit/core';
import { checkAdapterOptions, checkChannelOptions } from '@ssekit/core/adapter';
import * as expressAdapter from '@ssekit/express';
import * as fastifyAdapter from '@ssekit/fastify';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** Runtime exports only one adapter has: Fastify's former plugin name and its default export. */
const ONLY_EXPRESS_EXPORTS: string[] = [];
const ONLY_FASTIFY_EXPORTS = ['default', 'ssekit'];
/** `reply.sse` is also callable (`reply.sse(source)` pipes, then closes): a function's members. */
const ONLY_FASTIFY_MEMBERS = ['apply', 'bind', 'call', 'length', 'name'];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
});

function thrown(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
}

async function rejected(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
}

/** The message without the `ssekit: <where>:` part, which names each adapter's own call. */
const what = (message: string | undefined): string | undefined =>
  message?.replace(/^ssekit: .*?: (?=unknown option|option |options |channels )/, '');

/** The keys listed in an "unknown option" message. */
function knownKeys(message: string | undefined): string[] {
  const list = /\(known: ([^)]*)\)/.exec(message ?? '')?.[1];
  expect(list, `no list of known options in: ${message}`).toBeDefined();
  return list!.split(', ').sort();
}

// How each adapter takes app-level options (checked at sse() / register) and route-level ones
// (checked at channel(), and on Fastify also as the `sse` route option).
const appLevel = {
  express: async (options: object) => thrown(() => expressAdapter.sse(options as never)),
  fastify: async (options: object) =>
    rejected(async () => {
      const app = Fastify();
      try {
        await app.register(fastifyAdapter.sse, options as never);
        await app.ready();
      } finally {
        await app.close().catch(() => {});
      }
    }),
};
const routeLevel = {
  express: async (options: object) => thrown(() => expressAdapter.channel('a', options as never)),
  fastify: async (options: object) => thrown(() => fastifyAdapter.channel('a', options as never)),
  'fastify route option': async (options: object) =>
    rejected(async () => {
      const app = Fastify();
      try {
        await app.register(fastifyAdapter.sse);
        // The object form is served by ssekit's handler: borrow channel()'s.
        const { handler } = fastifyAdapter.channel('a');
        app.get('/r', { sse: { channels: 'a', ...options } as never }, handler);
        await app.ready();
      } finally {
        await app.close().catch(() => {});
      }
    }),
};
const core = {
  app: (options: object) => thrown(() => checkAdapterOptions('core', options)),
  route: (options: object) => thrown(() => checkChannelOptions('core', options)),
};

/** Values each check must refuse at least one of; compared outcome by outcome across adapters. */
const probes: unknown[] = [Symbol('bad'), -1, 'bad', null, { id: 'a\nb' }, [1]];

describe('exported names', () => {
  it('are the same in both packages, but for the documented aliases', () => {
    const shared = (names: string[], only: string[]) =>
      names.filter((name) => !only.includes(name)).sort();
    const expressNames = Object.keys(expressAdapter);
    const fastifyNames = Object.keys(fastifyAdapter);
    expect(shared(expressNames, ONLY_EXPRESS_EXPORTS)).toEqual(
      shared(fastifyNames, ONLY_FASTIFY_EXPORTS),
    );
    for (const name of [...ONLY_EXPRESS_EXPORTS]) expect(expressNames).toContain(name);
    for (const name of ONLY_FASTIFY_EXPORTS) expect(fastifyNames).toContain(name);
    expect(expressNames).toEqual(expect.arrayContaining(['sse', 'channel']));
  });

  it('keep the former names working: sse.channel on both, ssekit and the default export on Fastify', () => {
    expect(typeof expressAdapter.sse.channel).toBe('function');
    expect(fastifyAdapter.sse.channel).toBe(fastifyAdapter.channel);
    expect(fastifyAdapter.ssekit).toBe(fastifyAdapter.sse);
    expect(fastifyAdapter.default).toBe(fastifyAdapter.sse);
  });
});

describe('options', () => {
  it('app level: both accept exactly the keys of core checkAdapterOptions', async () => {
    const bogus = { notAnOption: 1 };
    const expected = knownKeys(core.app(bogus));
    for (const [name, check] of Object.entries(appLevel)) {
      expect(knownKeys(await check(bogus)), name).toEqual(expected);
    }
    expect(expected).toEqual(expect.arrayContaining(['hub', 'onError', 'finalEvent', 'heartbeat']));
  });

  it('route level: both accept exactly the keys of core checkChannelOptions', async () => {
    const bogus = { notAnOption: 1 };
    const expected = knownKeys(core.route(bogus));
    for (const [name, check] of Object.entries(routeLevel)) {
      expect(knownKeys(await check(bogus)), name).toEqual(expected);
    }
    expect(expected).toEqual(
      expect.arrayContaining(['filter', 'authorize', 'gapReplay', 'heartbeat', 'onError']),
    );
    expect(expected).not.toContain('hub');
  });

  it.each([
    ['app', appLevel, core.app],
    ['route', routeLevel, core.route],
  ] as const)(
    '%s level: every key is validated the same way on both, at declaration',
    async (_level, checks, reference) => {
      const keys = knownKeys(reference({ notAnOption: 1 }));
      for (const key of keys) {
        const outcomes: Record<string, Array<string | undefined>> = {};
        for (const [name, check] of Object.entries(checks)) {
          outcomes[name] = [await check({ [key]: undefined })];
          for (const value of probes) outcomes[name].push(what(await check({ [key]: value })));
        }
        const expected = [undefined, ...probes.map((value) => what(reference({ [key]: value })))];
        for (const [name, got] of Object.entries(outcomes))
          expect(got, `${name}: ${key}`).toEqual(expected);
        // The check names the option.
        expect(
          expected.some((message) => message?.includes(`"${key}"`)),
          `${key} is refused for some value`,
        ).toBe(true);
      }
    },
    60_000,
  );

  it('channel lists are checked the same way on both', async () => {
    for (const channels of [[], '', ['a', ''], 5]) {
      const messages = [
        thrown(() => expressAdapter.channel(channels as never)),
        thrown(() => fastifyAdapter.channel(channels as never)),
      ];
      expect(messages.map(what)).toEqual([what(messages[0]), what(messages[0])]);
      expect(messages[0]).toMatch(/channels must be/);
    }
  });
});

interface Running {
  url: string;
  /** Ends the app's streams the adapter's way: Express `middleware.close()`, Fastify `app.close()`. */
  shutdown(): Promise<void>;
}

async function listening(server: Server): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The same routes on both: `/members` lists the session's members, `/broken` pipes a failing source, `/ch` a channel. */
interface Setup {
  onError?: (error: unknown, request: IncomingMessage | { url: string }) => void;
  finalEvent?: { event: string; data: string };
}

function memberTypes(session: object): Record<string, string> {
  const types: Record<string, string> = {};
  for (let o: object | null = session; o && o !== Object.prototype && o !== Function.prototype; ) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name in types) continue;
      types[name] = typeof (session as Record<string, unknown>)[name];
    }
    o = Object.getPrototypeOf(o);
  }
  return types;
}

async function* failing(): AsyncGenerator<string> {
  yield 'partial';
  throw new Error('source failed');
}

const servers: Record<string, (setup: Setup) => Promise<Running>> = {
  async express(setup) {
    const hub = createHub();
    const app = express();
    const middleware = expressAdapter.sse({ hub, heartbeat: false, retry: 60_000, ...setup });
    app.use(middleware);
    app.get('/members', (_req, res) => {
      res.json(memberTypes(res.sse));
    });
    app.get('/broken', (_req, res) => {
      void res.sse.pipe(failing());
    });
    app.get('/ch', expressAdapter.channel('a'));
    const server = app.listen(0, '127.0.0.1');
    const url = await listening(server);
    cleanups.push(async () => {
      server.closeAllConnections();
      server.close();
      await hub.close();
    });
    return { url, shutdown: async () => middleware.close() };
  },
  async fastify(setup) {
    const hub = createHub();
    const lines: string[] = [];
    const app: FastifyInstance = Fastify({
      logger: {
        level: 'error',
        stream: new Writable({
          write(chunk, _encoding, done) {
            lines.push(String(chunk));
            done();
          },
        }),
      },
    });
    await app.register(fastifyAdapter.sse, {
      hub,
      heartbeat: false,
      retry: 60_000,
      ...(setup as object),
    });
    app.get('/members', { sse: true }, async (_request, reply) => memberTypes(reply.sse!));
    app.get('/broken', { sse: true }, (_request, reply) => reply.sse!.pipe(failing()));
    app.get('/ch', fastifyAdapter.channel('a'));
    await app.listen({ port: 0, host: '127.0.0.1' });
    fastifyLog = lines;
    cleanups.push(async () => {
      await app.close();
      await hub.close();
    });
    return { url: await listening(app.server), shutdown: () => app.close() };
  },
};
let fastifyLog: string[] = [];

describe('the session and the error contract on real servers', () => {
  it('res.sse and reply.sse have the same members, of the same kinds', async () => {
    const members: Record<string, Record<string, string>> = {};
    for (const [name, start] of Object.entries(servers)) {
      const { url } = await start({});
      members[name] = (await (await fetch(`${url}/members`)).json()) as Record<string, string>;
    }
    const fastifyShared = Object.fromEntries(
      Object.entries(members.fastify!).filter(([name]) => !ONLY_FASTIFY_MEMBERS.includes(name)),
    );
    expect(members.express).toEqual(fastifyShared);
    expect(Object.keys(members.express!)).toEqual(
      expect.arrayContaining(['send', 'subscribe', 'pipe', 'close', 'signal', 'lastEventId']),
    );
  });

  it.each(Object.keys(servers))(
    '%s: onError(error, request) hears of an error after the stream started, the stream already closed',
    async (name) => {
      const reported: Array<{ error: unknown; url: string | undefined }> = [];
      const { url } = await servers[name]!({
        onError: (error, request) => reported.push({ error, url: request.url }),
      });
      const response = await fetch(`${url}/broken`);
      expect(response.status).toBe(200);
      // The stream ends: the client reads it to the end.
      expect(await response.text()).toBe('retry: 60000\n\ndata: partial\n\n');
      await vi.waitFor(() => expect(reported).toHaveLength(1));
      expect((reported[0]!.error as Error).message).toBe('source failed');
      expect(reported[0]!.url).toBe('/broken');
    },
  );

  it.each(Object.keys(servers))(
    '%s: without onError, one line goes to the framework log, and the response just ends',
    async (name) => {
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
      const { url } = await servers[name]!({});
      const response = await fetch(`${url}/broken`);
      expect(await response.text()).toBe('retry: 60000\n\ndata: partial\n\n');
      if (name === 'express') {
        await vi.waitFor(() => expect(errors).toHaveBeenCalledTimes(1));
        expect(String(errors.mock.calls[0]![0])).toMatch(/source failed/);
        expect(String(errors.mock.calls[0]![0])).not.toMatch(/\n/);
      } else {
        await vi.waitFor(() => expect(fastifyLog.join('')).toMatch(/source failed/));
        expect(errors).not.toHaveBeenCalled();
      }
    },
  );

  it.each(Object.keys(servers))('%s: finalEvent reaches open streams on shutdown', async (name) => {
    const running = await servers[name]!({ finalEvent: { event: 'bye', data: 'restarting' } });
    const response = await fetch(`${running.url}/ch`);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    // The retry field, then the client's position (a bare id: it has no event yet).
    const opening = /^retry: 60000\n\nid: [^\n]+-0\n\n$/;
    let text = '';
    while (!opening.test(text)) text += decoder.decode((await reader.read()).value);
    const shutdown = running.shutdown();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value);
    }
    await shutdown;
    expect(text).toMatch(/^retry: 60000\n\nid: [^\n]+-0\n\nevent: bye\ndata: restarting\n\n$/);
  });
});
