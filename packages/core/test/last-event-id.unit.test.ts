import { lastEventIdFrom, MAX_LAST_EVENT_ID_BYTES } from '@ssekit/core';
import { describe, expect, it } from 'vitest';

/** What Node's HTTP parser hands us for a header the client sent as UTF-8 bytes: latin1 text. */
const asNodeHeader = (utf8: string): string => Buffer.from(utf8, 'utf8').toString('latin1');
const header = (value: string | string[] | undefined, url = '/sse') => ({
  headers: { 'last-event-id': value },
  url,
});

describe('lastEventIdFrom: header', () => {
  it('reads a plain ASCII id', () => {
    expect(lastEventIdFrom(header('171-42'))).toBe('171-42');
  });

  it('is absent when there is no header and no query', () => {
    expect(lastEventIdFrom({ headers: {} })).toBeUndefined();
    expect(lastEventIdFrom({ headers: {}, url: '/sse' })).toBeUndefined();
  });

  it('re-decodes the latin1 text Node gives into the UTF-8 id the client sent', () => {
    for (const id of ['é', 'ñandú-7', '世界-1', '😀', 'a\u00ffb']) {
      const raw = asNodeHeader(id);
      expect(raw).not.toBe(id);
      expect(lastEventIdFrom(header(raw))).toBe(id);
    }
  });

  it('keeps a header that was already decoded beyond latin1', () => {
    expect(lastEventIdFrom(header('世界-1'))).toBe('世界-1');
  });

  it('treats bytes that are not valid UTF-8 as absent', () => {
    // 0xE9 alone is "é" in latin1 but a truncated sequence in UTF-8.
    expect(lastEventIdFrom(header('\u00e9'))).toBeUndefined();
    // A lone continuation byte, and an overlong encoding of "/".
    expect(lastEventIdFrom(header('a\u0080b'))).toBeUndefined();
    expect(lastEventIdFrom(header('\u00c0\u00af'))).toBeUndefined();
  });

  it('accepts exactly the byte limit and treats one byte more as absent', () => {
    const atLimit = 'a'.repeat(MAX_LAST_EVENT_ID_BYTES);
    expect(MAX_LAST_EVENT_ID_BYTES).toBe(256);
    expect(lastEventIdFrom(header(atLimit))).toBe(atLimit);
    expect(lastEventIdFrom(header(`${atLimit}a`))).toBeUndefined();
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    // 128 "é" are 128 characters but 256 bytes; 129 are 258 bytes.
    expect(lastEventIdFrom(header(asNodeHeader('é'.repeat(128))))).toBe('é'.repeat(128));
    expect(lastEventIdFrom(header(asNodeHeader('é'.repeat(129))))).toBeUndefined();
  });

  it.each([
    ['NUL', 'a\0b'],
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
  ])('treats an id with %s as absent', (_name, id) => {
    expect(lastEventIdFrom(header(id))).toBeUndefined();
  });

  it('uses the first value of a repeated header', () => {
    expect(lastEventIdFrom(header(['1-1', '2-2']))).toBe('1-1');
  });
});

describe('lastEventIdFrom: query fallback', () => {
  it('reads lastEventId from the query when there is no header', () => {
    expect(lastEventIdFrom({ headers: {}, url: '/sse?lastEventId=171-9' })).toBe('171-9');
    expect(lastEventIdFrom({ headers: {}, url: '/sse?x=1&lastEventId=5&y=2' })).toBe('5');
  });

  it('percent-decodes the query value as UTF-8', () => {
    const url = `/sse?lastEventId=${encodeURIComponent('世界-1')}`;
    expect(lastEventIdFrom({ headers: {}, url })).toBe('世界-1');
  });

  it('treats an empty, oversized or forbidden query value as absent', () => {
    expect(lastEventIdFrom({ headers: {}, url: '/sse?lastEventId=' })).toBeUndefined();
    const long = 'a'.repeat(MAX_LAST_EVENT_ID_BYTES + 1);
    expect(lastEventIdFrom({ headers: {}, url: `/sse?lastEventId=${long}` })).toBeUndefined();
    expect(lastEventIdFrom({ headers: {}, url: '/sse?lastEventId=a%00b' })).toBeUndefined();
    expect(lastEventIdFrom({ headers: {}, url: '/sse?lastEventId=a%0Ab' })).toBeUndefined();
  });

  it('lets the header win when both are present', () => {
    expect(lastEventIdFrom(header('from-header', '/sse?lastEventId=from-query'))).toBe(
      'from-header',
    );
  });

  it('does not fall back to the query when the header is present but invalid', () => {
    expect(lastEventIdFrom(header('\u00e9', '/sse?lastEventId=q'))).toBeUndefined();
  });

  it('falls back to the query when the header is empty', () => {
    expect(lastEventIdFrom(header('', '/sse?lastEventId=q'))).toBe('q');
  });
});
