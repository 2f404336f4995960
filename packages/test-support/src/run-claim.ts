/** A run claim as the hub makes one, for tests of a store's run state. */
import { runChannel } from '@ssekit/core';
import type { RunClaim } from '@ssekit/core/store';

/** Key `key` on its run channel, owner `process-a`, a lease and retention of a minute. */
export function runClaim(key: string, overrides: Partial<RunClaim> = {}): RunClaim {
  return {
    key,
    channel: runChannel(key),
    owner: 'process-a',
    leaseMs: 60_000,
    retentionMs: 60_000,
    startBody: 'data: start',
    startEvent: 'ssekit-run',
    ...overrides,
  };
}
