import {
  formatEventId,
  ReplayBuffer,
  type ReplayLimits,
  type StoredEvent,
  storedFrame,
} from '@ssekit/core/store';
import { describe, expect, it } from 'vitest';
import { MAX_SLAB_BYTES } from '../src/store/frame-slabs.js';

/** The buffer as it was: one object per event. What the compact one must match event for event. */
class Model {
  events: StoredEvent[] = [];
  bytes = 0;
  evictedUpTo = 0;
  constructor(private readonly limits: ReplayLimits) {}
  push(event: StoredEvent): void {
    this.events.push(event);
    this.bytes += event.frame.length;
    const { maxEvents = 10_000, maxBytes = 16 * 1024 * 1024 } = this.limits;
    while (this.events.length > maxEvents || (this.bytes > maxBytes && this.events.length > 1))
      this.evictOne();
    this.evictExpired(event.time);
  }
  evictExpired(now: number): void {
    const maxAge = this.limits.maxAgeMs;
    if (maxAge === undefined) return;
    while (this.events.length > 0 && now - this.events[0]!.time > maxAge) this.evictOne();
  }
  private evictOne(): void {
    const event = this.events.shift()!;
    this.bytes -= event.frame.length;
    this.evictedUpTo = event.seq;
  }
}

/** A small deterministic PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EPOCH = 'mx5abc1234';

/** Events with their frames as text: compared natively, not byte by byte by the matcher. */
const plain = (events: (StoredEvent | undefined)[]) =>
  events.map((e) => e && { ...e, frame: e.frame.toString('latin1') });

function expectSame(buffer: ReplayBuffer, model: Model, probe: number): void {
  expect(buffer.size).toBe(model.events.length);
  expect(buffer.byteSize).toBe(model.bytes);
  expect(buffer.evictedUpTo).toBe(model.evictedUpTo);
  expect(plain([buffer.oldest, buffer.newest])).toEqual(
    plain([model.events[0], model.events.at(-1)]),
  );
  expect(plain(buffer.after(probe))).toEqual(plain(model.events.filter((e) => e.seq > probe)));
}

describe('ReplayBuffer, stored compactly', () => {
  for (const [name, limits] of [
    ['by count', { maxEvents: 37 }],
    ['by bytes (frames of up to 3 slabs)', { maxBytes: 5 * MAX_SLAB_BYTES }],
    ['by age', { maxAgeMs: 50 }],
    ['by all three', { maxEvents: 500, maxBytes: 40_000, maxAgeMs: 200 }],
  ] as const) {
    it(`evicts ${name} exactly as one object per event did, frames byte-exact`, () => {
      const random = prng(name.length);
      const buffer = new ReplayBuffer(limits, { channel: 'c', epoch: EPOCH });
      const model = new Model(limits);
      let seq = 0;
      let time = 1_000_000;
      for (let step = 0; step < 2000; step++) {
        seq += 1 + Math.floor(random() * 3);
        time += Math.floor(random() * 3);
        // Mostly tokens; now and then a frame larger than a slab, multi-byte text, a type.
        const size = random() < 0.01 ? Math.floor(random() * 3 * MAX_SLAB_BYTES) : random() * 80;
        const body = `data: ${'é'.repeat(Math.floor(size / 4))}${'x'.repeat(Math.floor(size / 2))}\n`;
        const event = random() < 0.2 ? (random() < 0.5 ? 'done' : 'tok') : undefined;
        const id = formatEventId(EPOCH, seq);
        const frame = buffer.append(id, seq, body, event, time);
        expect(frame.equals(storedFrame(id, body))).toBe(true);
        model.push({ channel: 'c', id, seq, event, frame: storedFrame(id, body), time });
        if (step % 97 === 0) {
          const now = time + Math.floor(random() * 60);
          buffer.evictExpired(now);
          model.evictExpired(now);
        }
        if (step % 41 === 0) expectSame(buffer, model, seq - Math.floor(random() * 60));
      }
      expectSame(buffer, model, 0);
    });
  }

  it('finds "after" at its ends and at every slab boundary', () => {
    const buffer = new ReplayBuffer({}, { channel: 'c', epoch: EPOCH });
    const all: StoredEvent[] = [];
    // ~40 KB of small frames: a dozen slabs, so a dozen boundaries.
    for (let seq = 2; seq <= 4000; seq += 2) {
      const id = formatEventId(EPOCH, seq);
      const body = `data: ${seq}\n`;
      buffer.append(id, seq, body, undefined, 0);
      all.push({ channel: 'c', id, seq, event: undefined, frame: storedFrame(id, body), time: 0 });
    }
    for (let probe = 0; probe <= 4001; probe++) {
      const found = buffer.after(probe);
      const expected = all.filter((e) => e.seq > probe);
      expect(found.length).toBe(expected.length);
      // Each frame (a view) is checked at the probe, so every slab's first and last one are.
      expect(plain(found.slice(0, 1))).toEqual(plain(expected.slice(0, 1)));
    }
    expect(plain(buffer.after(0))).toEqual(plain(all));
    expect(buffer.after(4000)).toEqual([]);
  });

  it('frees slabs as their events are evicted; views already handed out stay intact', () => {
    const buffer = new ReplayBuffer({ maxAgeMs: 10 }, { channel: 'c', epoch: EPOCH });
    const body = `data: ${'x'.repeat(200)}\n`;
    const views: Buffer[] = [];
    for (let seq = 1; seq <= 20_000; seq++)
      views.push(buffer.append(formatEventId(EPOCH, seq), seq, body, undefined, 0));
    const full = buffer.capacityBytes;
    expect(full).toBeGreaterThan(buffer.byteSize);
    // Slabs grow by ~1.5x (and rows as well): at most about twice what the frames need.
    expect(full).toBeLessThan(buffer.byteSize * 2);
    // Keep one slab's worth of new events; everything older ages out.
    for (let seq = 20_001; seq <= 20_200; seq++)
      buffer.append(formatEventId(EPOCH, seq), seq, body, undefined, 100);
    expect(buffer.size).toBe(200);
    expect(buffer.capacityBytes).toBeLessThan(3 * MAX_SLAB_BYTES);
    expect(views[0]).toEqual(storedFrame(formatEventId(EPOCH, 1), body));
    buffer.evictExpired(1000);
    expect(buffer.size).toBe(0);
    expect(buffer.capacityBytes).toBe(0);
  });

  it('keeps what a hand-pushed event has of its own: another channel, id, or one of many types', () => {
    const buffer = new ReplayBuffer({ maxEvents: 1000 });
    const pushed: StoredEvent[] = [];
    for (let seq = 1; seq <= 600; seq++) {
      const event: StoredEvent = {
        channel: seq % 5 === 0 ? 'other' : 'c',
        id: seq % 7 === 0 ? `custom-id-${seq}` : formatEventId('e1', seq),
        seq,
        // More types than a one-byte code has room for.
        event: seq % 2 === 0 ? `type-${seq}` : undefined,
        frame: Buffer.from(`frame ${seq}\n`),
        time: seq,
      };
      buffer.push(event);
      pushed.push(event);
    }
    expect(plain(buffer.after(0))).toEqual(plain(pushed));
    expect(plain(buffer.after(599))).toEqual(plain([pushed[599]]));
  });
});
