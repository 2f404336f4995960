/** Real child processes, each a hub on the Redis store behind an HTTP server (fixtures/hub-process.mjs). */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { HubHealth, HubStats } from '@ssekit/core';
import { type EventRecorder, watch } from '@ssekit/test-support';

const FIXTURE = fileURLToPath(new URL('./fixtures/hub-process.mjs', import.meta.url));

export interface PublishedEvent {
  id: string;
  channel: string;
  /** `<pid>:<n>`, the same as the event's data carries: which publish this is, whatever its id. */
  key: string;
}

export interface HubProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** Everything the child wrote to stderr (a crash shows up here). */
  stderr(): string;
  /** Publishes `count` events round-robin over `channels`; a 503 resolves with the error. */
  publish(
    channels: string | string[],
    count?: number,
  ): Promise<{ status: number; ids: string[]; events: PublishedEvent[]; error?: string }>;
  drop(): Promise<number>;
  closeChannel(channel: string, final?: string): Promise<void>;
  stats(): Promise<
    HubStats & {
      store: {
        status: string;
        readerStatus: string;
        lastError: string | null;
        epoch: string | null;
        historyChanges: number;
        epochsCarriedOver: number;
      };
    }
  >;
  /** `hub.drain({ withinMs })`; resolves once no stream is left on this process. */
  drain(withinMs: number): Promise<{ drained: boolean; streams: number }>;
  /** `hub.health()` and the status a readiness probe would get (200 ready, 503 not). */
  health(): Promise<{ status: number; health: HubHealth }>;
  stop(): Promise<void>;
}

export async function startHubProcess(
  name: string,
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<HubProcess> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, REDIS_URL: redisUrl, PREFIX: prefix, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) =>
      reject(new Error(`hub process ${name} exited (${code}): ${errors}`)),
    );
  });
  const url = `http://127.0.0.1:${port}`;
  const post = async (path: string): Promise<Response> =>
    fetch(`${url}${path}`, { method: 'POST' });
  return {
    name,
    url,
    child,
    stderr: () => errors,
    async publish(channels, count = 1) {
      const ch = typeof channels === 'string' ? channels : channels.join(',');
      const res = await post(`/publish?ch=${encodeURIComponent(ch)}&count=${count}`);
      const body = (await res.json()) as {
        ids?: string[];
        events: PublishedEvent[];
        error?: string;
      };
      return {
        status: res.status,
        ids: body.events.map((e) => e.id),
        events: body.events,
        error: body.error,
      };
    },
    async drop() {
      return ((await (await post('/drop')).json()) as { dropped: number }).dropped;
    },
    async closeChannel(channel, final) {
      const after = final === undefined ? '' : `&final=${encodeURIComponent(final)}`;
      await post(`/close-channel?ch=${encodeURIComponent(channel)}${after}`);
    },
    async stats() {
      return (await (await fetch(`${url}/stats`)).json()) as Awaited<
        ReturnType<HubProcess['stats']>
      >;
    },
    async drain(withinMs) {
      return (await (await post(`/drain?ms=${withinMs}`)).json()) as {
        drained: boolean;
        streams: number;
      };
    },
    async health() {
      const res = await fetch(`${url}/health`);
      return { status: res.status, health: (await res.json()) as HubHealth };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code, signal] = (await exited) as [number | null, string | null];
      clearTimeout(timer);
      // A clean exit after SIGTERM proves close() let go of every connection and timer.
      if (signal === 'SIGKILL') throw new Error(`hub process ${name} did not exit after SIGTERM`);
      if (code !== 0) throw new Error(`hub process ${name} exited with ${code}: ${errors}`);
    },
  };
}

export interface RoutedClient extends EventRecorder {
  /** Which process each connection went to, and the Last-Event-ID it sent. */
  connections: Array<{ process: string; lastEventId: string | null }>;
}

/**
 * The real `eventsource` client, subscribed to `channels`, whose every (re)connection goes to
 * the process `route` picks (it may wait, to hold a reconnect back). Gap events are recorded too.
 */
export function routedClient(
  channels: string,
  route: (attempt: number) => HubProcess | Promise<HubProcess>,
  types: string[] = [],
): RoutedClient {
  const connections: RoutedClient['connections'] = [];
  const watched = watch(
    `http://route.invalid/sse?ch=${encodeURIComponent(channels)}`,
    ['ssekit-gap', ...types],
    {
      fetch: async (input, init) => {
        const target = await route(connections.length);
        const headers = new Headers(init?.headers as Record<string, string> | undefined);
        connections.push({ process: target.name, lastEventId: headers.get('last-event-id') });
        const url = new URL(String(input));
        return fetch(`${target.url}${url.pathname}${url.search}`, init);
      },
    },
  );
  return Object.assign(watched, { connections });
}
