import { encodeEvent, type SseEventInit } from '@ssekit/core';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** Any code point (no lone surrogates), with line breaks made frequent. */
const char = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom('\r', '\n', '\r\n', ' ', ':', '\uFEFF', '\0') },
);
const text = fc.string({ unit: char, maxLength: 40 });
/** Text made of lines: empty lines and all three line endings, mixed. */
const lines = fc
  .array(
    fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('\n', '\r', '\r\n')),
    {
      maxLength: 6,
    },
  )
  .map((parts) => parts.map(([line, end]) => line + end).join(''));
const data = fc.oneof(text, lines);

const fieldText = (forbidden: RegExp) =>
  fc.string({ unit: char, maxLength: 20 }).filter((s) => !forbidden.test(s));
const eventName = fieldText(/[\r\n]/);
const idValue = fc.oneof(fieldText(/[\r\n\0]/), fc.nat());

const event = fc.record(
  { data, event: eventName, id: idValue, retry: fc.nat() },
  { requiredKeys: ['data'] },
);

/** Parses a byte stream delivered in the given chunks, like a client reading a socket. */
function parse(bytes: Buffer, cuts: number[]): { events: EventSourceMessage[]; retries: number[] } {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const parser = createParser({
    onEvent: (message) => events.push(message),
    onRetry: (retry) => retries.push(retry),
  });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (const cut of [...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    parser.feed(decoder.decode(bytes.subarray(start, cut), { stream: true }));
    start = cut;
  }
  parser.feed(decoder.decode());
  return { events, retries };
}

const expected = (init: SseEventInit & { data: string }): EventSourceMessage => ({
  id: init.id === undefined ? undefined : String(init.id),
  // An empty event type means "message"; the parser reports it as absent.
  event: init.event === '' ? undefined : init.event,
  data: init.data.replace(/\r\n?/g, '\n'),
});

describe('encodeEvent round-trips through eventsource-parser', () => {
  it('parses back every event, with data line endings normalised to LF', () => {
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(400)),
        (inits, cuts) => {
          const bytes = Buffer.concat(inits.map((init) => encodeEvent(init)));
          const { events, retries } = parse(bytes, cuts);
          expect(events).toEqual(inits.map(expected));
          expect(retries).toEqual(
            inits.flatMap((init) => (init.retry === undefined ? [] : [init.retry])),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips non-string data through the JSON serializer', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const { events } = parse(encodeEvent({ data: value }), []);
        expect(events).toHaveLength(1);
        const received = events[0]!.data;
        // Strings are sent as is; everything else as JSON.
        if (typeof value === 'string') expect(received).toBe(value.replace(/\r\n?/g, '\n'));
        // JSON itself has no -0, so compare against what JSON makes of the value.
        else expect(JSON.parse(received)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('encodeEvent rejects inputs that would break the framing', () => {
  const withBreak = (s: fc.Arbitrary<string>) =>
    fc
      .tuple(s, fc.constantFrom('\r', '\n', '\r\n'), s)
      .map(([before, lineBreak, after]) => before + lineBreak + after);

  it('throws a TypeError naming "event" for an event name with CR or LF', () => {
    fc.assert(
      fc.property(withBreak(text), data, (name, payload) => {
        expect(() => encodeEvent({ event: name, data: payload })).toThrow(/"event"/);
      }),
    );
  });

  it('throws a TypeError naming "id" for an id with CR, LF or U+0000', () => {
    const badId = fc.oneof(
      withBreak(text),
      fc.tuple(text, text).map(([a, b]) => `${a}\0${b}`),
    );
    fc.assert(
      fc.property(badId, data, (id, payload) => {
        expect(() => encodeEvent({ id, data: payload })).toThrow(/"id"/);
      }),
    );
  });

  it('throws a TypeError naming "retry" for anything but a non-negative safe integer', () => {
    const badRetry = fc.oneof(
      fc.integer({ max: -1 }),
      fc.double().filter((n) => !Number.isSafeInteger(n) || n < 0),
    );
    fc.assert(
      fc.property(badRetry, (retry) => {
        expect(() => encodeEvent({ retry, data: 'x' })).toThrow(TypeError);
        expect(() => encodeEvent({ retry, data: 'x' })).toThrow(/"retry"/);
      }),
    );
  });
});
