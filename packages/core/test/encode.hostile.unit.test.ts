/**
 * Hostile field values (issue 12, items 9-11): values that stringify differently each time they
 * are asked, non-strings where strings belong, and lone surrogates. Each is either refused with a
 * TypeError naming the field, before any of the value's own code runs, or written exactly.
 */

import { describe, expect, it } from 'vitest';
import {
  encodeComment,
  encodeEvent,
  encodeEventBody,
  type SseEventInit,
} from '../src/wire/encode.js';

const wire = (frame: Buffer): string => frame.toString('utf8');
const FORGED = 'x\nid: FORGED\ndata: INJECTED';

/** Answers 'ok' the first time it is converted, a forged field every time after. */
function twoFaced(kind: 'toString' | 'valueOf' | 'toPrimitive'): {
  value: object;
  calls(): number;
} {
  let n = 0;
  const answer = (): string => (n++ ? FORGED : 'ok');
  const value: object =
    kind === 'toPrimitive'
      ? { [Symbol.toPrimitive]: answer }
      : kind === 'valueOf'
        ? { valueOf: answer, toString: answer }
        : { toString: answer };
  return { value, calls: () => n };
}

/** Encodes with a field that TypeScript would refuse, as JavaScript callers can. */
const encodeWith = (fields: Record<string, unknown>): Buffer =>
  encodeEvent({ data: 'hello', ...fields } as SseEventInit);

describe('values that stringify differently each time cannot forge fields', () => {
  it.each(['toString', 'valueOf', 'toPrimitive'] as const)(
    'an event object with a two-faced %s is refused, naming "event", without being converted',
    (kind) => {
      const { value, calls } = twoFaced(kind);
      expect(() => encodeWith({ event: value })).toThrow(TypeError);
      expect(() => encodeWith({ event: value })).toThrow(/"event" must be a string, got object/);
      expect(calls()).toBe(0);
    },
  );

  it.each(['toString', 'valueOf', 'toPrimitive'] as const)(
    'an id object with a two-faced %s is refused, naming "id", without being converted',
    (kind) => {
      const { value, calls } = twoFaced(kind);
      expect(() => encodeWith({ id: value })).toThrow(TypeError);
      expect(() => encodeWith({ id: value })).toThrow(/"id" must be a string or a finite number/);
      expect(calls()).toBe(0);
    },
  );

  it('the hub path (encodeEventBody) refuses a two-faced event the same way', () => {
    const { value, calls } = twoFaced('toString');
    expect(() => encodeEventBody({ data: 'hello', event: value as unknown as string })).toThrow(
      /"event"/,
    );
    expect(calls()).toBe(0);
  });

  it('reads each field of the init object once, so a getter cannot swap the value after the check', () => {
    const reads = { id: 0, event: 0, comment: 0, retry: 0, data: 0 };
    const init = {
      get id() {
        return reads.id++ ? FORGED : '7';
      },
      get event() {
        return reads.event++ ? FORGED : 'tick';
      },
      get comment() {
        return reads.comment++ ? FORGED : 'note';
      },
      get retry() {
        return reads.retry++ ? -1 : 5;
      },
      get data() {
        return reads.data++ ? FORGED : 'hello';
      },
    };
    expect(wire(encodeEvent(init))).toBe('id: 7\n: note\nevent: tick\nretry: 5\ndata: hello\n\n');
    expect(reads).toEqual({ id: 1, event: 1, comment: 1, retry: 1, data: 1 });
  });
});

describe('every field is type-checked', () => {
  const nonStrings: Array<[string, unknown]> = [
    ['an object', {}],
    ['an array', ['a']],
    ['a boxed string', new String('a')],
    ['true', true],
    ['null', null],
    ['a bigint', 1n],
    ['a symbol', Symbol('s')],
    ['a function', () => 'a'],
  ];

  it.each([...nonStrings, ['a number', 1]])(
    'event as %s throws a TypeError naming "event"',
    (_name, event) => {
      expect(() => encodeWith({ event })).toThrow(TypeError);
      expect(() => encodeWith({ event })).toThrow(/"event"/);
    },
  );

  it.each(nonStrings)('id as %s throws a TypeError naming "id"', (_name, id) => {
    expect(() => encodeWith({ id })).toThrow(TypeError);
    expect(() => encodeWith({ id })).toThrow(/"id"/);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'id %s throws a TypeError naming "id"',
    (id) => {
      expect(() => encodeWith({ id })).toThrow(TypeError);
      expect(() => encodeWith({ id })).toThrow(/"id"/);
    },
  );

  it('writes numeric ids in their canonical form, -0 as 0', () => {
    expect(wire(encodeEvent({ id: -0, data: 'x' }))).toBe('id: 0\ndata: x\n\n');
    expect(wire(encodeEvent({ id: 1.5, data: 'x' }))).toBe('id: 1.5\ndata: x\n\n');
    expect(wire(encodeEvent({ id: 1e21, data: 'x' }))).toBe('id: 1e+21\ndata: x\n\n');
  });

  it.each([...nonStrings, ['a number', 1]])(
    'comment as %s throws a TypeError naming "comment"',
    (_name, comment) => {
      expect(() => encodeWith({ comment })).toThrow(TypeError);
      expect(() => encodeWith({ comment })).toThrow(/"comment"/);
      expect(() => encodeComment(comment as string)).toThrow(/"comment"/);
    },
  );

  it('retry as an object that converts to a number is refused without being converted', () => {
    let calls = 0;
    const retry = {
      valueOf: () => {
        calls++;
        return 5;
      },
      toString: () => {
        throw new Error('converted');
      },
    };
    expect(() => encodeWith({ retry })).toThrow(TypeError);
    expect(() => encodeWith({ retry })).toThrow(
      /"retry" must be a non-negative integer, got object/,
    );
    expect(() => encodeWith({ retry: Symbol('r') })).toThrow(/"retry".*got symbol/);
    expect(() => encodeWith({ retry: 5n })).toThrow(/"retry".*got bigint/);
    expect(calls).toBe(0);
  });

  it('writes -0 as retry 0', () => {
    expect(wire(encodeEvent({ retry: -0 }))).toBe('retry: 0\n\n');
  });
});

describe('data: strings as is, anything else through the serializer once, which must return a string', () => {
  it.each([
    ['undefined', undefined],
    ['a number', 42],
    ['null', null],
    ['an object', { toString: () => 'text' }],
  ])('a serializer returning %s throws a TypeError naming "data"', (_name, result) => {
    const serialize = (() => result) as unknown as (value: unknown) => string;
    expect(() => encodeEvent({ data: {}, id: '1' }, serialize)).toThrow(TypeError);
    expect(() => encodeEvent({ data: {}, id: '1' }, serialize)).toThrow(/"data"/);
  });

  it('calls the serializer once and writes what it returned', () => {
    let calls = 0;
    const serialize = (): string => (calls++ ? FORGED : 'once');
    expect(wire(encodeEvent({ data: 1 }, serialize))).toBe('data: once\n\n');
    expect(calls).toBe(1);
  });

  it('calls a stateful toJSON once (JSON by default) and writes its first answer', () => {
    let calls = 0;
    const data = { toJSON: () => (calls++ ? FORGED : { a: 1 }) };
    expect(wire(encodeEvent({ data }))).toBe('data: {"a":1}\n\n');
    expect(calls).toBe(1);
  });

  it('never stringifies a string, and splits only its line breaks', () => {
    expect(wire(encodeEvent({ data: 'a\0b\r\nid: x' }))).toBe('data: a\0b\ndata: id: x\n\n');
  });

  it('a bigint throws a TypeError naming "data" from the JSON serializer', () => {
    expect(() => encodeEvent({ data: { n: 1n } })).toThrow(TypeError);
    expect(() => encodeEvent({ data: { n: 1n } })).toThrow(/"data".*BigInt/);
  });
});

describe('an array id (e.g. a repeated query parameter) cannot smuggle a NUL', () => {
  it('id ["a\\0b", "c"] throws a TypeError naming "id" instead of writing "a\\0b,c"', () => {
    expect(() => encodeWith({ id: ['a\0b', 'c'] })).toThrow(TypeError);
    expect(() => encodeWith({ id: ['a\0b', 'c'] })).toThrow(/"id" must be a string/);
  });
});

describe('lone surrogates: refused in id and event, U+FFFD in data and comments', () => {
  const lone: Array<[string, string]> = [
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', 'a\uDC00b'],
    ['a trailing high surrogate', 'ab\uD83D'],
    ['a reversed pair', '\uDE00\uD83D'],
  ];

  it.each(lone)('id with %s throws a TypeError naming "id"', (_name, id) => {
    expect(() => encodeEvent({ id, data: 'x' })).toThrow(TypeError);
    expect(() => encodeEvent({ id, data: 'x' })).toThrow(/"id" must not contain a lone surrogate/);
  });

  it.each(lone)('event with %s throws a TypeError naming "event"', (_name, event) => {
    expect(() => encodeEvent({ event, data: 'x' })).toThrow(TypeError);
    expect(() => encodeEvent({ event, data: 'x' })).toThrow(/"event".*lone surrogate/);
    expect(() => encodeEventBody({ event, data: 'x' })).toThrow(/"event"/);
  });

  it('writes a surrogate pair in id and event as its UTF-8 code point', () => {
    const frame = encodeEvent({ id: 'id-\uD83D\uDE00', event: '\uD83D\uDE00', data: 'x' });
    expect(frame.equals(Buffer.from('id: id-😀\nevent: 😀\ndata: x\n\n', 'utf8'))).toBe(true);
  });

  it('writes a lone surrogate in data or a comment as U+FFFD (EF BF BD), as documented', () => {
    const frame = encodeEvent({ comment: 'c\uDC00', data: 'a\uD800b' });
    expect(frame.equals(Buffer.from(': c\uFFFD\ndata: a\uFFFDb\n\n', 'utf8'))).toBe(true);
    expect(frame.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(true);
  });
});
