import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string) =>
  fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests import the packages' sources; test/dist-imports checks the built ESM and CJS files.
const alias = {
  // Subpaths first: an alias also matches as a prefix.
  '@ssekit/core/store': fileURLToPath(
    new URL('./packages/core/src/store/index.ts', import.meta.url),
  ),
  '@ssekit/core/adapter': fileURLToPath(
    new URL('./packages/core/src/session/index.ts', import.meta.url),
  ),
  '@ssekit/core': src('core'),
  '@ssekit/express': src('express'),
  '@ssekit/fastify': src('fastify'),
  '@ssekit/redis': src('redis'),
  // Shared test support (private, not built): subpaths first, as above.
  '@ssekit/test-support/express': fileURLToPath(
    new URL('./packages/test-support/src/express.ts', import.meta.url),
  ),
  '@ssekit/test-support/type-check': fileURLToPath(
    new URL('./packages/test-support/src/type-check.ts', import.meta.url),
  ),
  '@ssekit/test-support': src('test-support'),
};

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.unit.test.ts', 'test/**/*.unit.test.ts'],
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          // Memory tests measure the heap after a forced collection.
          execArgv: ['--expose-gc'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
