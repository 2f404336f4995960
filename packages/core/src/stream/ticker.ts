/**
 * One shared, unref'd interval per period drives the heartbeats and write timeouts of every
 * stream with that period: 10,000 idle clients cost one timer, not 10,000.
 */

export interface Tickable {
  tick(now: number): void;
}

interface Group {
  timer: NodeJS.Timeout;
  members: Set<Tickable>;
}

const groups = new Map<number, Group>();

export function joinTicker(period: number, member: Tickable): void {
  let group = groups.get(period);
  if (!group) {
    const members = new Set<Tickable>();
    const timer = setInterval(() => {
      const now = Date.now();
      for (const m of members) m.tick(now);
    }, period);
    timer.unref();
    group = { timer, members };
    groups.set(period, group);
  }
  group.members.add(member);
}

export function leaveTicker(period: number, member: Tickable): void {
  const group = groups.get(period);
  if (!group) return;
  group.members.delete(member);
  if (group.members.size === 0) {
    clearInterval(group.timer);
    groups.delete(period);
  }
}

/** Number of live shared timers; lets tests prove there is one per period, not per client. */
export function tickerCount(): number {
  return groups.size;
}
