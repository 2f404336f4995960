import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry per public face: applications, store authors, adapter authors.
  entry: { index: 'src/index.ts', store: 'src/store/index.ts', adapter: 'src/session/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  // Also for CJS: one copy of each class across the entries, so instanceof holds between faces.
  splitting: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // import.meta.url in the CJS build (telemetry.ts loads the optional @opentelemetry/api with it).
  shims: true,
});
