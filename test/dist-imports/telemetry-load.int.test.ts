/**
 * The optional `@opentelemetry/api` peer, as the built packages load it: with an SDK registered
 * the ESM and the CJS build both report metrics through the global meter; where the package
 * can't be resolved at all, both builds create hubs without metrics. Needs `pnpm build` first.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const core = fileURLToPath(new URL('../../packages/core/', import.meta.url));

/** Prints `{ withSdk, withoutSdk }`: events.published as collected, and whether a hub made instruments. */
const script = (load: string): string => `
const { createRequire } = require('node:module');
const fromCore = createRequire(${JSON.stringify(join(core, 'package.json'))});
(async () => {
  const core = await ${load};
  const bare = core.createHub();
  const withoutSdk = bare.telemetry !== undefined;
  await bare.close();
  const { metrics } = fromCore('@opentelemetry/api');
  const { MeterProvider, MetricReader } = fromCore('@opentelemetry/sdk-metrics');
  class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
  const reader = new Reader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  const hub = core.createHub();
  await hub.publish('x', 1);
  await hub.publish('x', 2);
  const { resourceMetrics } = await reader.collect();
  const published = resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === 'ssekit.events.published');
  await hub.close();
  console.log(JSON.stringify({ withoutSdk, withSdk: published ? published.dataPoints[0].value : null }));
})();
`;

async function node(code: string, cwd: string): Promise<unknown> {
  const { stdout } = await run(process.execPath, ['-e', code], { cwd });
  return JSON.parse(stdout.trim());
}

describe('the optional @opentelemetry/api peer, in the built packages', () => {
  for (const [build, load] of [
    ['ESM', `import(${JSON.stringify(join(core, 'dist/index.js'))})`],
    ['CJS', `Promise.resolve(require(${JSON.stringify(join(core, 'dist/index.cjs'))}))`],
  ] as const) {
    it(`${build}: the global meter once an SDK is registered; no instruments without one`, async () => {
      expect(await node(script(load), core)).toEqual({ withoutSdk: false, withSdk: 2 });
    });
  }

  describe('where @opentelemetry/api is not installed', () => {
    let dir: string | undefined;
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('both builds create and use hubs without metrics', async () => {
      dir = await mkdtemp(join(tmpdir(), 'ssekit-no-otel-'));
      const installed = join(dir, 'node_modules/@ssekit/core');
      await cp(join(core, 'dist'), join(installed, 'dist'), { recursive: true });
      await cp(join(core, 'package.json'), join(installed, 'package.json'));
      const use = (load: string) => `
(async () => {
  const { createHub } = await ${load};
  const hub = createHub();
  const id = await hub.publish('x', 1);
  console.log(JSON.stringify({ id: typeof id, telemetry: hub.telemetry !== undefined }));
  await hub.close();
})();`;
      await writeFile(join(dir, 'package.json'), '{"private":true}');
      for (const load of [`import('@ssekit/core')`, `Promise.resolve(require('@ssekit/core'))`])
        expect(await node(use(load), dir)).toEqual({ id: 'string', telemetry: false });
    });
  });
});
