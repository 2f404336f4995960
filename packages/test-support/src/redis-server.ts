/**
 * A real `redis-server` for tests: a free loopback port, a fresh temp dir, no config file.
 * It can be killed (SIGKILL, a crash) and started again on the same port and dir, paused
 * (SIGSTOP: a hung Redis) and resumed, and started as a replica of another one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisServerOptions {
  /**
   * `appendonly yes` with `appendfsync always`: what Redis acknowledged survives a SIGKILL.
   * Without it nothing is saved unless the test sends SAVE; a restart then loads that snapshot.
   */
  persistence?: boolean;
  /** Starts as a replica (`--replicaof 127.0.0.1 <port>`) of the server on that port. */
  replicaOf?: number;
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL: no shutdown, no final save. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir (so with persistence, it reloads its data). */
  start(): Promise<void>;
  /** Kills it and removes its dir. */
  stop(): Promise<void>;
  /** SIGSTOP: the process hangs, connections stay open and nothing is answered. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function launch(
  port: number,
  dir: string,
  persistence: boolean,
  replicaOf: number | undefined,
): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    persistence ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--protected-mode',
    'no',
    '--loglevel',
    'notice',
    // A replica's first sync starts at once, not after the default 5 s wait for more replicas.
    '--repl-diskless-sync-delay',
    '0',
    ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
  ];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise<ChildProcess>((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.resume();
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited (${code}) before it was ready:\n${log}`)),
    );
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const persistence = options.persistence ?? false;
  const dir = await mkdtemp(join(tmpdir(), 'ssekit-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port, dir, persistence, options.replicaOf);
  let paused = false;
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
    paused = false;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill,
    async start() {
      if (child) throw new Error('redis-server is already running');
      child = await launch(port, dir, persistence, options.replicaOf);
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    pause() {
      if (!child) throw new Error('redis-server is not running');
      child.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      if (child && paused) child.kill('SIGCONT');
      paused = false;
    },
  };
}
