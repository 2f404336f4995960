import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { joinTicker, leaveTicker, type Tickable, tickerCount } from '../src/stream/ticker.js';

/** A member that records its ticks and may run something while being ticked. */
function member(onTick?: () => void): Tickable & { ticks: number } {
  return {
    ticks: 0,
    tickPrev: undefined,
    tickNext: undefined,
    tick() {
      this.ticks++;
      onTick?.();
    },
  };
}

describe('ticker: members in a list', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('ticks every member once per period and stops the timer with the last one', () => {
    const members = [member(), member(), member()];
    for (const m of members) joinTicker(100, m);
    expect(tickerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(members.map((m) => m.ticks)).toEqual([1, 1, 1]);
    leaveTicker(100, members[1]!);
    vi.advanceTimersByTime(100);
    expect(members.map((m) => m.ticks)).toEqual([2, 1, 2]);
    leaveTicker(100, members[0]!);
    leaveTicker(100, members[0]!); // twice: a no-op
    leaveTicker(100, members[2]!);
    expect(tickerCount()).toBe(0);
  });

  it('still ticks the rest when a member leaves during a tick, itself or the one after it', () => {
    const last = member();
    const next = member();
    // Joined at the head: ticked in the reverse order of joining, so `first` runs before `next`.
    const first = member(() => {
      leaveTicker(50, first);
      leaveTicker(50, next);
    });
    joinTicker(50, last);
    joinTicker(50, next);
    joinTicker(50, first);
    vi.advanceTimersByTime(50);
    expect([first.ticks, next.ticks, last.ticks]).toEqual([1, 0, 1]);
    vi.advanceTimersByTime(50);
    expect([first.ticks, next.ticks, last.ticks]).toEqual([1, 0, 2]);
    leaveTicker(50, last);
    expect(tickerCount()).toBe(0);
  });
});
