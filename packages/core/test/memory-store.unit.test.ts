import { memoryStore } from '@ssekit/core';
import { runClaim } from '@ssekit/test-support';
import { afterEach, describe, expect, it, vi } from 'vitest';

const listener = { event: () => {}, closed: () => {} };

describe('MemoryStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('remembers what a freed channel lost, for that channel only', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const store = memoryStore({ maxAgeMs: 1000 });
    const unsubscribe = await store.subscribe('a', listener);
    const first = await store.append('a', 'data: 1\n', undefined);
    await store.append('a', 'data: 2\n', undefined);
    vi.setSystemTime(1_005_000);
    // Reading evicts what aged out; the channel is freed once nobody listens and nothing is left.
    expect((await store.readAfter(['a'], first)).gap).toMatchObject({ reason: 'evicted' });
    unsubscribe();
    expect(store.stats().channels).toBe(0);
    // The freed channel still reports its gap; an unrelated channel does not.
    expect((await store.readAfter(['a'], first)).gap).toMatchObject({ reason: 'evicted' });
    expect((await store.readAfter(['b'], first)).gap).toBeUndefined();
    // Made again, the channel keeps knowing.
    await store.subscribe('a', listener);
    expect((await store.readAfter(['a'], first)).gap).toMatchObject({ reason: 'evicted' });
    await store.close();
  });

  it('reports what its history holds: frame bytes, and held bytes that include room not yet used', async () => {
    const store = memoryStore({ maxEvents: 2 });
    for (let i = 0; i < 10; i++) await store.append('c', `data: ${i}\n`, undefined);
    const { bufferedEvents, bufferedBytes, heldBytes } = store.stats();
    expect(bufferedEvents).toBe(2);
    expect(bufferedBytes).toBeGreaterThan(0);
    expect(heldBytes).toBeGreaterThanOrEqual(bufferedBytes);
    await store.close();
  });

  it("keeps a run's interrupted end: its old owner can't overwrite it, and it is recorded once", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const store = memoryStore();
    const runs = store.runs!;
    const claim = runClaim('k', { owner: 'a', leaseMs: 100 });
    expect(await runs.claim(claim)).not.toBeNull();
    vi.setSystemTime(1_000_500);
    // Another process ended it as interrupted (its producer looked dead)...
    expect(await runs.interrupt('k')).toBe(true);
    await runs.end('k', null, 'interrupted', 'e-5', 60_000);
    // ...then the old owner's source finished: its end and a second interrupter's change nothing.
    await runs.end('k', 'a', 'done', 'e-9', 60_000);
    await runs.end('k', null, 'interrupted', 'e-12', 60_000);
    expect(await runs.get('k')).toMatchObject({ status: 'interrupted', endId: 'e-5' });
    await store.close();
  });

  it('reports an id from another epoch as stale, even when it is ahead of this counter', async () => {
    const old = memoryStore();
    let id = '';
    for (let i = 0; i < 5; i++) id = await old.append('c', 'data: x\n', undefined);
    const fresh = memoryStore();
    await fresh.append('c', 'data: y\n', undefined);
    expect((await fresh.readAfter(['c'], id)).gap).toMatchObject({ reason: 'stale' });
  });

  it('signals a gap, not a silent skip, when a channel was closed and reopened', async () => {
    const store = memoryStore();
    const first = await store.append('room', 'data: 1\n', undefined);
    await store.append('room', 'data: 2\n', undefined);
    await store.closeChannel('room');
    await store.reopenChannel('room');
    const after = await store.append('room', 'data: 4\n', undefined);
    const result = await store.readAfter(['room'], first);
    expect(result.gap).toMatchObject({ reason: 'evicted' });
    expect(result.events.map((e) => e.id)).toEqual([after]);
  });
});
