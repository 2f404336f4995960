/**
 * Renewing a producer's leases (runs/run-store.ts `renewAll`): every run of one process in one
 * script call per hundred runs, each with its own outcome.
 */
import { type RedisStore, redisStore } from '@ssekit/redis';
import { cleanupAfterEach, redisServerPerFile, runClaim } from '@ssekit/test-support';
import { expect, it } from 'vitest';

const redis = redisServerPerFile();
const cleanups = cleanupAfterEach();
let prefixes = 0;

function storeOn(prefix: string): RedisStore {
  const store = redisStore({ url: redis.url, prefix });
  cleanups.push(() => store.close());
  return store;
}

it('renews 250 runs at once, each with its own record; one another process ended comes back null and is no longer counted', async () => {
  const prefix = `leases${++prefixes}:`;
  const a = storeOn(prefix);
  const b = storeOn(prefix);
  const keys = Array.from({ length: 250 }, (_, i) => `r${i}`);
  for (const key of keys)
    expect(
      await a.runs.claim(runClaim(key, { leaseMs: key === 'r7' ? 50 : 60_000 })),
    ).not.toBeNull();
  // r7's lease lapses (Redis's clock) and B ends it as interrupted, as a follower's process does.
  const until = Date.now() + 5_000;
  while (!(await b.runs.interrupt('r7'))) {
    if (Date.now() > until) throw new Error('the lease never lapsed');
  }
  expect(a.runs.count()).toBe(250);
  const before = await a.runs.get('r200');
  const records = await a.runs.renewAll!(
    'process-a',
    keys.map((key) => ({ key, leaseMs: 60_000 })),
  );
  expect(records).toHaveLength(250);
  expect(records.filter((record) => record === null)).toHaveLength(1);
  expect(records[7]).toBeNull();
  expect(records[200]?.status).toBe('running');
  expect(records[200]!.leaseUntil).toBeGreaterThanOrEqual(before!.leaseUntil);
  expect(a.runs.count()).toBe(249);
  // Another owner renews nothing.
  const theirs = await b.runs.renewAll!('process-b', [{ key: 'r1', leaseMs: 60_000 }]);
  expect(theirs).toEqual([null]);
});
