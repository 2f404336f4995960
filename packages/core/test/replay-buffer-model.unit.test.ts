/**
 * Adversarial model check of the compact history (replay-buffer.ts, frame-slabs.ts,
 * event-extras.ts): random appends and pushes (tiny to larger-than-a-slab frames, up to 600
 * event types, odd channels and ids with dashes in their epochs), random limits by count, bytes
 * and age, checked after every step against a plain array model. Every frame ever handed out
 * (append's return value and every replayed event) is re-checked at the end: bytes once handed
 * out must never change, whatever was evicted or appended since.
 */
import { ReplayBuffer, type StoredEvent } from '@ssekit/core/store';
import { describe, expect, it } from 'vitest';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Model {
  seq: number;
  id: string;
  channel: string;
  event: string | undefined;
  frame: string;
  time: number;
}

function bodyOf(rand: () => number, n: number): string {
  // Mostly ASCII, some multi-byte characters (UTF-8 lengths differ from string lengths).
  const big = rand() < 0.03;
  const length = big ? 40_000 + Math.floor(rand() * 120_000) : Math.floor(rand() * 200);
  const unit = rand() < 0.2 ? 'é€😀' : 'abcdefgh';
  // Cut by code points: no lone surrogate (which UTF-8 can't carry).
  const text = Array.from(unit.repeat(Math.ceil(length / 3) + 1))
    .slice(0, length)
    .join('');
  return `data: ${n}:${text}`;
}

function check(buffer: ReplayBuffer, model: Model[], handed: Array<[Buffer, string]>): void {
  expect(buffer.size).toBe(model.length);
  const all = buffer.after(0);
  expect(all.map((e) => e.seq)).toEqual(model.map((m) => m.seq));
  for (let i = 0; i < all.length; i++) {
    const got = all[i]!;
    const want = model[i]!;
    expect(got.id).toBe(want.id);
    expect(got.channel).toBe(want.channel);
    expect(got.event).toBe(want.event);
    expect(got.time).toBe(want.time);
    expect(got.frame.toString()).toBe(want.frame);
    handed.push([got.frame, want.frame]);
  }
  const bytes = model.reduce((sum, m) => sum + Buffer.byteLength(m.frame), 0);
  expect(buffer.byteSize).toBe(bytes);
  if (model.length > 0) {
    expect(buffer.oldest?.seq).toBe(model[0]!.seq);
    expect(buffer.newest?.seq).toBe(model.at(-1)!.seq);
    const mid = model[Math.floor(model.length / 2)]!;
    expect(buffer.after(mid.seq - 1)[0]?.seq).toBe(mid.seq);
  }
}

describe('probe: compact history against a model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: appends, evictions and handed-out views stay exact`, () => {
      const rand = prng(seed);
      const maxEvents = [0, 1, 3, 50, 10_000][Math.floor(rand() * 5)]!;
      const maxBytes = [100, 5_000, 70_000, 16 * 1024 * 1024][Math.floor(rand() * 4)]!;
      const maxAgeMs = rand() < 0.5 ? 50 : undefined;
      const epoch = 'ab-cd';
      const buffer = new ReplayBuffer(
        { maxEvents, maxBytes, ...(maxAgeMs ? { maxAgeMs } : {}) },
        { channel: 'c', epoch },
      );
      let model: Model[] = [];
      const handed: Array<[Buffer, string]> = [];
      let seq = 0;
      let time = 1_000;
      const evictModel = (now: number | undefined): void => {
        while (
          model.length > maxEvents ||
          (model.reduce((s, m) => s + Buffer.byteLength(m.frame), 0) > maxBytes && model.length > 1)
        )
          model.shift();
        if (maxAgeMs !== undefined && now !== undefined)
          model = model.filter((m) => !(now - m.time > maxAgeMs));
      };
      for (let step = 0; step < 1_500; step++) {
        seq += 1 + (rand() < 0.1 ? Math.floor(rand() * 5) : 0);
        time += Math.floor(rand() * 10);
        const types = rand() < 0.5 ? 600 : 3;
        const event = rand() < 0.3 ? undefined : `t${Math.floor(rand() * types)}`;
        const body = bodyOf(rand, seq);
        const id = `${epoch}-${seq}`;
        if (rand() < 0.8) {
          const frame = buffer.append(id, seq, body, event, time);
          const text = `id: ${id}\n${body}\n`;
          expect(frame.toString()).toBe(text);
          handed.push([frame, text]);
          model.push({ seq, id, channel: 'c', event, frame: text, time });
        } else {
          // A hand-pushed event, sometimes with its own channel or id.
          const ownId = rand() < 0.3 ? `other-epoch-${seq}` : id;
          const channel = rand() < 0.3 ? 'elsewhere' : 'c';
          const text = `id: ${ownId}\n${body}\n`;
          const stored: StoredEvent = {
            channel,
            id: ownId,
            seq,
            event,
            frame: Buffer.from(text),
            time,
          };
          buffer.push(stored);
          model.push({ seq, id: ownId, channel, event, frame: text, time });
        }
        evictModel(time);
        if (rand() < 0.05 && maxAgeMs !== undefined) {
          time += maxAgeMs / 2 + Math.floor(rand() * maxAgeMs);
          buffer.evictExpired(time);
          evictModel(time);
        }
        if (step % 25 === 0 || rand() < 0.05) check(buffer, model, handed);
      }
      check(buffer, model, handed);
      for (const [frame, text] of handed) expect(frame.toString()).toBe(text);
    });
  }
});
