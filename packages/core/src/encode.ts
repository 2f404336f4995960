/**
 * The SSE wire format (WHATWG HTML, "Server-sent events"), encoded once into bytes.
 * Every function here either returns a complete frame or throws before producing anything.
 */

/** Turns a non-string `data` value into text. JSON by default. */
export type Serializer = (value: unknown) => string;

export interface SseEventInit {
  /** A string is sent as is; anything else goes through the serializer. `undefined` sends no data line. */
  data?: unknown;
  /** Event type. Must not contain CR or LF. */
  event?: string;
  /** Event id. `''` resets the client's last id; `0` is written. Must not contain CR, LF or U+0000. */
  id?: string | number;
  /** Reconnection delay in ms: a non-negative integer. `0` is written. */
  retry?: number;
  /** Comment lines (`: text`), written before the fields. */
  comment?: string;
}

export const jsonSerializer: Serializer = (value) => {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('SSE field "data" cannot be serialized to JSON');
  return text;
};

const LINE_BREAK = /\r\n|\r|\n/;
const CR_OR_LF = /[\r\n]/;

/** Throws a TypeError naming the field when `value` could forge a second field or event. */
export function assertFieldValue(field: 'event' | 'id', value: string): void {
  if (CR_OR_LF.test(value)) {
    throw new TypeError(`SSE field "${field}" must not contain CR or LF`);
  }
  // Browsers silently ignore an id containing NUL, so it would never be committed.
  if (field === 'id' && value.includes('\0')) {
    throw new TypeError('SSE field "id" must not contain U+0000 (NUL)');
  }
}

export function assertRetry(retry: unknown): asserts retry is number {
  if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
    throw new TypeError(`SSE field "retry" must be a non-negative integer, got ${String(retry)}`);
  }
}

function textOf(data: unknown, serialize: Serializer): string {
  return typeof data === 'string' ? data : serialize(data);
}

/** `data:` lines for `text`, one per line, each ending in LF. */
export function dataLines(text: string): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += line === '' ? 'data:\n' : `data: ${line}\n`;
  return out;
}

/** `:` lines for a comment; a line break inside can only start another comment line. */
export function commentLines(text: string): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += line === '' ? ':\n' : `: ${line}\n`;
  return out;
}

/**
 * The fields of an event except `id`, as text without the terminating blank line.
 * The hub encodes this once per publish and adds the id it assigns.
 */
export function encodeEventBody(
  init: Omit<SseEventInit, 'id'>,
  serialize: Serializer = jsonSerializer,
): string {
  let out = '';
  if (init.comment !== undefined) out += commentLines(init.comment);
  if (init.event !== undefined) {
    assertFieldValue('event', init.event);
    out += `event: ${init.event}\n`;
  }
  if (init.retry !== undefined) {
    assertRetry(init.retry);
    out += `retry: ${init.retry}\n`;
  }
  if (init.data !== undefined) out += dataLines(textOf(init.data, serialize));
  return out;
}

/** Normalises and checks an id; returns the text to put after `id: `. */
export function idText(id: string | number): string {
  const text = typeof id === 'number' ? String(id) : id;
  if (typeof id === 'number' && !Number.isFinite(id)) {
    throw new TypeError(`SSE field "id" must be a finite number or a string, got ${text}`);
  }
  assertFieldValue('id', text);
  return text;
}

/** Joins an id and an encoded body into one complete frame. */
export function frameText(body: string, id?: string): string {
  if (id === undefined) return `${body}\n`;
  return id === '' ? `id:\n${body}\n` : `id: ${id}\n${body}\n`;
}

/**
 * Encodes one event into an immutable frame that can be written to any number of clients.
 * Throws a TypeError, and produces nothing, on a field that would break the framing.
 */
export function encodeEvent(init: SseEventInit, serialize: Serializer = jsonSerializer): Buffer {
  const id = init.id === undefined ? undefined : idText(init.id);
  return Buffer.from(frameText(encodeEventBody(init, serialize), id));
}

/** A comment-only frame, e.g. a heartbeat. Dispatches no event on the client. */
export function encodeComment(text: string): Buffer {
  return Buffer.from(commentLines(text));
}
