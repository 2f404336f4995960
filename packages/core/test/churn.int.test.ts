import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/churn.mjs', import.meta.url));

/** The heap may grow by at most this much over 10,000 cycles: 100 bytes per cycle would fail it. */
const HEAP_BOUND = 512 * 1024;

describe('churn (built package, --expose-gc)', () => {
  it('10,000 subscribe/disconnect cycles and 10,000 one-shot channels leave the heap flat', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', fixture, '10000'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      timeout: 120_000,
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(result.stats).toMatchObject({ clients: 0, channels: 1 });
    expect(result.afterSubscribe - result.before).toBeLessThan(HEAP_BOUND);
    expect(result.afterOneShot - result.before).toBeLessThan(HEAP_BOUND);
  }, 150_000);
});
