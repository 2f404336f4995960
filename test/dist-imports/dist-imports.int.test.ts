/**
 * Proves the built packages work for plain Node consumers: a `.mjs` file that imports and a
 * `.cjs` file that requires each @ssekit package by name, resolved through the exports map.
 * Needs `pnpm build` first (the test command runs it).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
/** `@ssekit/core/store` -> packages/core/dist/store.<ext>; `@ssekit/redis` -> .../dist/index.<ext>. */
const dist = (name: string, ext: string): string => {
  const [pkg, face = 'index'] = name.slice('@ssekit/'.length).split('/');
  return here(`../../packages/${pkg}/dist/${face}.${ext}`);
};

interface Entry {
  resolved: string;
  exports: string[];
  frame?: string;
  shared?: boolean;
  error?: string;
}
type Report = Record<string, Entry>;

/** The package's entry, failing with the child's own error message when it could not load. */
function loaded(report: Report, name: string): Entry {
  const entry = report[name];
  expect(entry, `${name} missing from the report`).toBeDefined();
  expect(entry!.error, `${name} did not load (run pnpm build first)`).toBeUndefined();
  return entry!;
}

async function consume(fixture: string): Promise<Report> {
  const { stdout } = await run(process.execPath, [here(fixture)], { cwd: here('.') });
  return JSON.parse(stdout) as Report;
}

/** Runtime names each package must export (types vanish at runtime). */
const expectedExports: Record<string, string[]> = {
  '@ssekit/core': [
    'encodeEvent',
    'encodeComment',
    'jsonSerializer',
    'lastEventIdFrom',
    'MAX_LAST_EVENT_ID_BYTES',
    'SseStream',
    'DEFAULT_HEARTBEAT_MS',
    'DEFAULT_MAX_QUEUE_BYTES',
    'DEFAULT_WRITE_TIMEOUT_MS',
    'createHub',
    'Hub',
    'SseRefusal',
    'SsekitError',
    'StoreUnavailableError',
    'MemoryStore',
    'memoryStore',
    'parseEventId',
  ],
  '@ssekit/core/store': [
    'ReplayBuffer',
    'MemoryStore',
    'mergeBySeq',
    'formatEventId',
    'parseEventId',
    'newEpoch',
    'StoreUnavailableError',
  ],
  '@ssekit/core/adapter': ['SseSession', 'defineSession', 'SseStream', 'checkAdapterOptions'],
  '@ssekit/express': ['sse', 'createHub', 'SseRefusal'],
  '@ssekit/fastify': ['ssekit', 'default', 'createHub', 'SseRefusal'],
  '@ssekit/redis': ['redisStore'],
};
const packages = Object.keys(expectedExports);

describe('built packages from plain Node files', () => {
  const esm = consume('./import-all.mjs');
  const cjs = consume('./require-all.cjs');
  // Both children run in parallel; a failure is reported by the tests below, not as unhandled.
  esm.catch(() => {});
  cjs.catch(() => {});

  it.each(packages)(
    'import (ESM) resolves %s to its ESM build and exports its names',
    async (name) => {
      const entry = loaded(await esm, name);
      expect(fileURLToPath(entry.resolved)).toBe(dist(name, 'js'));
      expect(entry.exports).toEqual(expect.arrayContaining(expectedExports[name]!));
    },
  );

  it.each(packages)(
    'require (CJS) resolves %s to its CJS build and exports its names',
    async (name) => {
      const entry = loaded(await cjs, name);
      expect(entry.resolved).toBe(dist(name, 'cjs'));
      expect(entry.exports).toEqual(expect.arrayContaining(expectedExports[name]!));
    },
  );

  it.each(packages)('ESM and CJS builds of %s export the same names', async (name) => {
    const [fromEsm, fromCjs] = [loaded(await esm, name), loaded(await cjs, name)];
    expect(fromCjs.exports).toEqual(fromEsm.exports);
  });

  it('the faces of @ssekit/core share one copy of each class (instanceof holds across them)', async () => {
    expect(loaded(await esm, '@ssekit/core/store').shared).toBe(true);
    expect(loaded(await cjs, '@ssekit/core/store').shared).toBe(true);
  });

  it('the ESM and CJS builds of @ssekit/core encode the same exact bytes', async () => {
    const frame = 'id: 0\ndata: a\ndata: b\n\n';
    expect(loaded(await esm, '@ssekit/core').frame).toBe(frame);
    expect(loaded(await cjs, '@ssekit/core').frame).toBe(frame);
  });
});
