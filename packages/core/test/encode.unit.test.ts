import { describe, expect, it } from 'vitest';
import { encodeComment, encodeEvent, encodeEventBody, jsonSerializer } from '../src/wire/encode.js';

/** The frame as text, so a failing assertion shows the exact wire bytes. */
const wire = (frame: Buffer): string => frame.toString('utf8');

describe('encodeEvent: data', () => {
  it('writes one data line for single-line text', () => {
    expect(wire(encodeEvent({ data: 'hello' }))).toBe('data: hello\n\n');
  });

  it.each([
    ['LF', 'a\nb'],
    ['CR', 'a\rb'],
    ['CRLF', 'a\r\nb'],
  ])('splits on %s into data lines', (_name, data) => {
    expect(wire(encodeEvent({ data }))).toBe('data: a\ndata: b\n\n');
  });

  it('splits mixed line endings, and treats LF then CR as two breaks', () => {
    expect(wire(encodeEvent({ data: 'a\r\nb\rc\nd\n\re' }))).toBe(
      'data: a\ndata: b\ndata: c\ndata: d\ndata:\ndata: e\n\n',
    );
  });

  it('still produces an event for empty data', () => {
    expect(wire(encodeEvent({ data: '' }))).toBe('data:\n\n');
  });

  it('writes "\\n" as two empty data lines', () => {
    expect(wire(encodeEvent({ data: '\n' }))).toBe('data:\ndata:\n\n');
  });

  it('keeps trailing and leading empty lines', () => {
    expect(wire(encodeEvent({ data: '\r\nx\r\n' }))).toBe('data:\ndata: x\ndata:\n\n');
  });

  it('keeps a leading space: the parser strips only the one after the colon', () => {
    expect(wire(encodeEvent({ data: ' x' }))).toBe('data:  x\n\n');
  });

  it('keeps a leading colon as data, never a comment', () => {
    expect(wire(encodeEvent({ data: ':x\n: y' }))).toBe('data: :x\ndata: : y\n\n');
  });

  it('cannot inject fields through data', () => {
    expect(wire(encodeEvent({ data: 'x\n\nevent: evil\nid: 9' }))).toBe(
      'data: x\ndata:\ndata: event: evil\ndata: id: 9\n\n',
    );
  });

  it('encodes unicode as UTF-8', () => {
    const frame = encodeEvent({ data: 'héllo 世界 😀' });
    expect(frame.equals(Buffer.from('data: héllo 世界 😀\n\n', 'utf8'))).toBe(true);
    expect(frame.subarray(6, 8)).toEqual(Buffer.from([0x68, 0xc3]));
  });

  it('writes no data line when data is undefined', () => {
    expect(wire(encodeEvent({ event: 'ping' }))).toBe('event: ping\n\n');
  });
});

describe('encodeEvent: non-string data', () => {
  it.each([
    [{ a: 1, b: [true, null] }, '{"a":1,"b":[true,null]}'],
    [[1, 'two'], '[1,"two"]'],
    [null, 'null'],
    [0, '0'],
    [false, 'false'],
  ])('serializes %j as JSON by default', (data, text) => {
    expect(wire(encodeEvent({ data }))).toBe(`data: ${text}\n\n`);
  });

  it('splits JSON that contains line breaks only inside strings (escaped) into one line', () => {
    expect(wire(encodeEvent({ data: { s: 'a\nb' } }))).toBe('data: {"s":"a\\nb"}\n\n');
  });

  it('uses a custom serializer, and splits its output into data lines', () => {
    const serialize = (value: unknown): string => `<${String(value)}>\r\n<end>`;
    expect(wire(encodeEvent({ data: 42 }, serialize))).toBe('data: <42>\ndata: <end>\n\n');
  });

  it('does not pass strings through the serializer', () => {
    const serialize = (): string => 'wrong';
    expect(wire(encodeEvent({ data: 'as is' }, serialize))).toBe('data: as is\n\n');
  });

  it('throws a TypeError naming data for values JSON cannot represent', () => {
    expect(() => encodeEvent({ data: () => 1 })).toThrow(TypeError);
    expect(() => encodeEvent({ data: Symbol('s') })).toThrow(/"data"/);
    expect(() => jsonSerializer(undefined)).toThrow(/"data"/);
  });

  it('propagates a throwing serializer and produces nothing', () => {
    const failing = (): string => {
      throw new RangeError('nope');
    };
    expect(() => encodeEvent({ data: 1, id: 'x' }, failing)).toThrow(RangeError);
  });
});

describe('encodeEvent: id, event, retry', () => {
  it("writes id '' as a bare `id:` that resets the client's last id", () => {
    expect(wire(encodeEvent({ id: '', data: 'x' }))).toBe('id:\ndata: x\n\n');
  });

  it.each([0, '0'])('writes id %j', (id) => {
    expect(wire(encodeEvent({ id, data: 'x' }))).toBe('id: 0\ndata: x\n\n');
  });

  it('writes a unicode id as UTF-8', () => {
    const frame = encodeEvent({ id: 'é-1', data: 'x' });
    expect(frame.equals(Buffer.from('id: é-1\ndata: x\n\n', 'utf8'))).toBe(true);
  });

  it('writes event, retry and data in a fixed order after the id', () => {
    expect(wire(encodeEvent({ data: 'd', event: 'tick', id: '7', retry: 1500 }))).toBe(
      'id: 7\nevent: tick\nretry: 1500\ndata: d\n\n',
    );
  });

  it('writes retry 0', () => {
    expect(wire(encodeEvent({ retry: 0 }))).toBe('retry: 0\n\n');
  });

  it('writes an empty event name as is (the client treats it as "message")', () => {
    expect(wire(encodeEvent({ event: '', data: 'x' }))).toBe('event: \ndata: x\n\n');
  });

  it('encodeEventBody plus an id matches encodeEvent', () => {
    const body = encodeEventBody({ event: 'e', data: { n: 1 } });
    expect(body).toBe('event: e\ndata: {"n":1}\n');
    expect(wire(encodeEvent({ id: '1-2', event: 'e', data: { n: 1 } }))).toBe(`id: 1-2\n${body}\n`);
  });
});

describe('comments', () => {
  it('writes a comment line', () => {
    expect(wire(encodeComment('keep-alive'))).toBe(': keep-alive\n');
  });

  it('writes an empty comment as a bare colon', () => {
    expect(wire(encodeComment(''))).toBe(':\n');
  });

  it('splits a multi-line comment into several comment lines, never a field', () => {
    expect(wire(encodeComment('a\r\nb\rc\ndata: evil\n'))).toBe(': a\n: b\n: c\n: data: evil\n:\n');
  });

  it('puts an event comment before the fields', () => {
    expect(wire(encodeEvent({ comment: 'note\nid: 6', id: '5', data: 'x' }))).toBe(
      'id: 5\n: note\n: id: 6\ndata: x\n\n',
    );
  });
});

describe('encodeEvent: invalid fields throw and produce nothing', () => {
  it.each([
    ['LF', 'a\nb'],
    ['CR', 'a\rb'],
    ['CRLF', 'a\r\nb'],
    ['trailing LF', 'a\n'],
  ])('event with %s throws a TypeError naming "event"', (_name, event) => {
    expect(() => encodeEvent({ event, data: 'x' })).toThrow(TypeError);
    expect(() => encodeEvent({ event, data: 'x' })).toThrow(/"event"/);
  });

  it.each([
    ['LF', 'a\nb'],
    ['CR', 'a\rb'],
    ['CRLF', 'a\r\nb'],
  ])('id with %s throws a TypeError naming "id"', (_name, id) => {
    expect(() => encodeEvent({ id, data: 'x' })).toThrow(TypeError);
    expect(() => encodeEvent({ id, data: 'x' })).toThrow(/"id"/);
  });

  it('id with U+0000 throws a TypeError naming "id"', () => {
    expect(() => encodeEvent({ id: 'a\0b', data: 'x' })).toThrow(TypeError);
    expect(() => encodeEvent({ id: '\0', data: 'x' })).toThrow(/"id".*U\+0000/);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY])('numeric id %s throws', (id) => {
    expect(() => encodeEvent({ id, data: 'x' })).toThrow(/"id"/);
  });

  it.each([
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a string', '100' as unknown as number],
    ['beyond safe integers', 2 ** 53],
  ])('retry %s throws a TypeError naming "retry"', (_name, retry) => {
    expect(() => encodeEvent({ retry, data: 'x' })).toThrow(TypeError);
    expect(() => encodeEvent({ retry, data: 'x' })).toThrow(/"retry"/);
  });

  it('checks every field before returning, whatever the order of the bad one', () => {
    // A valid id and data do not leak out when a later field is invalid.
    let frame: Buffer | undefined;
    expect(() => {
      frame = encodeEvent({ id: '1', data: 'x', event: 'a\nb' });
    }).toThrow(/"event"/);
    expect(frame).toBeUndefined();
  });
});
