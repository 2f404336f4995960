// API reports (issue 14, "Public faces"): one per package entry point, committed as
// packages/<name>/etc/<name>.api.md and made by @microsoft/api-extractor from the built .d.ts.
//   node .ci/api-report.mjs check    fails when a report differs from the built API (CI, `pnpm api:check`)
//   node .ci/api-report.mjs update   rewrites the reports (`pnpm api:update`)
// Both need `pnpm build` first: they read packages/<name>/dist/index.d.ts.
// Every packages/*/api-extractor*.json is run, so a second entry point (e.g. `@ssekit/core/store`)
// gets its report by adding packages/core/api-extractor.store.json with its own
// mainEntryPointFilePath and apiReport.reportFileName.
//
// Settings shared by every package live in .ci/api-extractor.base.json (JSON without comments,
// as Biome checks it): the built .d.ts is analysed alone (compiler.overrideTsconfig); types reachable
// from the API but not exported are printed too (apiReport.includeForgottenExports, marked
// ae-forgotten-export), so changes to them show in review; other api-extractor messages go into the
// report or nowhere, and TSDoc messages are off, so a run fails only when a report differs or the
// .d.ts does not compile. Release tags (@public/@beta) are not used in ssekit. Reports are written
// with LF line ends; api-extractor's temporary copies go to packages/<name>/.tmp/ (gitignored).
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import apiExtractor from '@microsoft/api-extractor';

const { Extractor, ExtractorConfig } = apiExtractor;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
if (mode !== 'check' && mode !== 'update') {
  console.error('usage: node .ci/api-report.mjs check|update');
  process.exit(2);
}
const update = mode === 'update';

const configs = [];
for (const pkg of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', pkg);
  if (!existsSync(join(dir, 'package.json'))) continue;
  for (const file of readdirSync(dir).sort()) {
    if (/^api-extractor(\.[\w-]+)?\.json$/.test(file)) configs.push(join(dir, file));
  }
}

const failed = [];
for (const configFile of configs) {
  const name = relative(root, configFile);
  let config;
  try {
    config = ExtractorConfig.loadFileAndPrepare(configFile);
  } catch (error) {
    const missing = /"mainEntryPointFilePath" path does not exist: (.*)/.exec(String(error));
    if (!missing) throw error;
    console.error(
      `api-report: ${relative(root, missing[1])} is missing (for ${name}). The API reports are ` +
        'made from the build: run `pnpm build` first, then `pnpm api:check` (or `pnpm api:update`).',
    );
    failed.push(name);
    continue;
  }
  const entry = relative(root, config.mainEntryPointFilePath);
  mkdirSync(config.reportFolder, { recursive: true });
  const messages = [];
  const result = Extractor.invoke(config, {
    localBuild: update,
    showVerboseMessages: false,
    messageCallback(message) {
      // Collected and printed once, without api-extractor's banner.
      message.handled = true;
      if (message.messageId.startsWith('console-api-report-')) return; // said below, shorter
      if (message.logLevel === 'error' || message.logLevel === 'warning') {
        messages.push(message.formatMessageWithLocation(root));
      }
    },
  });
  const report = relative(root, config.reportFilePath);
  for (const line of messages) console.error(`  ${line}`);
  if (result.succeeded) {
    console.log(`api-report: ${report} ${result.apiReportChanged ? 'updated' : 'up to date'}`);
  } else if (result.apiReportChanged && !update && result.errorCount === 0) {
    const temp = relative(root, config.reportTempFilePath);
    console.error(
      `api-report: ${report} differs from the built API of ${entry}.\n` +
        `  See the difference: diff ${report} ${temp}\n` +
        '  If the change is intended: `pnpm api:update` and commit the report with it.',
    );
    failed.push(name);
  } else {
    console.error(`api-report: ${name} failed (${result.errorCount} errors).`);
    failed.push(name);
  }
}

if (configs.length === 0) {
  console.error('api-report: no packages/*/api-extractor*.json found');
  process.exit(1);
}
if (failed.length > 0) process.exit(1);
