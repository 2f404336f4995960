/**
 * The hub every example server shares. In memory by default, so nothing else needs to run;
 * with REDIS_URL set, channels and replay live in Redis Streams, shared by every process.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createHub } from '@ssekit/core';

/** @param {import('@ssekit/core').HubOptions} [options] */
export async function createExampleHub(options = {}) {
  const url = process.env.REDIS_URL;
  if (!url) return createHub(options);
  // Loaded only when asked for: the in-memory demo never touches Redis.
  const { redisStore } = await import('@ssekit/redis');
  return createHub({ ...options, store: redisStore({ url }) });
}

/** The port and host a server listens on: PORT (default 3000) and HOST (default localhost). */
export function listenAddress() {
  return { port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? 'localhost' };
}

/** True when this module is the file node was started with (`node examples/x.mjs`). */
export function isMain(moduleUrl) {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(moduleUrl);
  } catch {
    return false;
  }
}

/** On Ctrl-C or SIGTERM, runs `close` (end the streams, then the server) and lets node exit. */
export function closeOnSignals(close) {
  const stop = (signal) => {
    console.log(`\n${signal}: closing the streams and the server`);
    close().catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
  };
  // `once`: a second Ctrl-C falls back to node's default and exits at once.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
