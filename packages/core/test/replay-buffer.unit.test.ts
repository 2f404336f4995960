import { ReplayBuffer, type StoredEvent } from '@ssekit/core/store';
import { describe, expect, it } from 'vitest';
import { lastLookupSteps } from '../src/store/replay-buffer.js';

const event = (seq: number, time = 0, size = 10): StoredEvent => ({
  channel: 'c',
  id: `e-${seq}`,
  seq,
  event: undefined,
  frame: Buffer.alloc(size),
  time,
});

describe('ReplayBuffer', () => {
  it('keeps the newest maxEvents and remembers what it evicted', () => {
    const buffer = new ReplayBuffer({ maxEvents: 3 });
    for (let seq = 1; seq <= 5; seq++) buffer.push(event(seq * 2));
    expect(buffer.size).toBe(3);
    expect(buffer.evictedUpTo).toBe(4);
    expect(buffer.after(0).map((e) => e.seq)).toEqual([6, 8, 10]);
    expect(buffer.after(7).map((e) => e.seq)).toEqual([8, 10]);
    expect(buffer.after(10)).toEqual([]);
  });

  it('evicts by bytes and by age', () => {
    const bytes = new ReplayBuffer({ maxBytes: 25 });
    for (let seq = 1; seq <= 4; seq++) bytes.push(event(seq));
    expect(bytes.size).toBe(2);
    expect(bytes.byteSize).toBe(20);
    const aged = new ReplayBuffer({ maxAgeMs: 100 });
    aged.push(event(1, 1000));
    aged.push(event(2, 1050));
    aged.push(event(3, 1120));
    expect(aged.after(0).map((e) => e.seq)).toEqual([2, 3]);
    aged.evictExpired(1300);
    expect(aged.size).toBe(0);
    expect(aged.evictedUpTo).toBe(3);
  });

  it('finds "after id X" in logarithmic steps, not a scan', () => {
    const steps: Array<[number, number]> = [];
    for (const size of [1_000, 10_000, 100_000]) {
      const buffer = new ReplayBuffer({ maxEvents: size });
      for (let seq = 1; seq <= size * 1.5; seq++) buffer.push(event(seq));
      expect(buffer.size).toBe(size);
      let worst = 0;
      for (const probe of [size * 0.5 + 1, size, size * 1.25, size * 1.5 - 1]) {
        const found = buffer.after(probe);
        expect(found[0]?.seq).toBe(probe + 1);
        worst = Math.max(worst, lastLookupSteps());
      }
      steps.push([size, worst]);
      expect(worst).toBeLessThanOrEqual(Math.ceil(Math.log2(size)) + 1);
    }
    // 100x more events cost only a handful more comparisons.
    expect(steps[2]![1] - steps[0]![1]).toBeLessThanOrEqual(8);
  });

  it('evicts in O(1) amortised: a million pushes through a small buffer stay fast and small', () => {
    const buffer = new ReplayBuffer({ maxEvents: 100 });
    const frame = Buffer.alloc(1);
    for (let seq = 1; seq <= 1_000_000; seq++) {
      buffer.push({ channel: 'c', id: '', seq, event: undefined, frame, time: 0 });
    }
    expect(buffer.size).toBe(100);
    expect(buffer.oldest?.seq).toBe(999_901);
  });
});
