/**
 * One shared, unref'd interval per period drives the heartbeats and write timeouts of every
 * stream with that period: 10,000 idle clients cost one timer, not 10,000. A period's members
 * form a list through their own two links (16 bytes each) rather than a Set (about 33 bytes a
 * member at 5,000 members).
 */

export interface Tickable {
  tick(now: number): void;
  /** @internal The ticker's links; undefined while not a member. */
  tickPrev: Tickable | undefined;
  /** @internal */
  tickNext: Tickable | undefined;
}

interface Group {
  timer: NodeJS.Timeout;
  head: Tickable | undefined;
  /** The member a running tick visits next: moved on when that member leaves meanwhile. */
  cursor: Tickable | undefined;
  size: number;
}

const groups = new Map<number, Group>();

function tickAll(group: Group): void {
  const now = Date.now();
  group.cursor = group.head;
  while (group.cursor) {
    const member = group.cursor;
    group.cursor = member.tickNext;
    member.tick(now);
  }
}

export function joinTicker(period: number, member: Tickable): void {
  let group = groups.get(period);
  if (!group) {
    const created: Group = { timer: undefined!, head: undefined, cursor: undefined, size: 0 };
    created.timer = setInterval(() => tickAll(created), period);
    created.timer.unref();
    group = created;
    groups.set(period, created);
  }
  member.tickPrev = undefined;
  member.tickNext = group.head;
  if (group.head) group.head.tickPrev = member;
  group.head = member;
  group.size++;
}

export function leaveTicker(period: number, member: Tickable): void {
  const group = groups.get(period);
  if (!group) return;
  const { tickPrev: prev, tickNext: next } = member;
  if (prev) prev.tickNext = next;
  else if (group.head === member) group.head = next;
  else return; // not a member
  if (next) next.tickPrev = prev;
  if (group.cursor === member) group.cursor = next;
  member.tickPrev = undefined;
  member.tickNext = undefined;
  group.size--;
  if (group.size === 0) {
    clearInterval(group.timer);
    groups.delete(period);
  }
}

/** Number of live shared timers; lets tests prove there is one per period, not per client. */
export function tickerCount(): number {
  return groups.size;
}
