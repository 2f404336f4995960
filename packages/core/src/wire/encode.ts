/**
 * The SSE wire format (WHATWG HTML, "Server-sent events"), encoded once into bytes.
 * Every function here either returns a complete frame or throws before producing anything.
 */

/** Turns a non-string `data` value into text. JSON by default. */
export type Serializer = (value: unknown) => string;

export interface SseEventInit {
  /** A string is sent as is; anything else goes through the serializer. `undefined` sends no data line. */
  data?: unknown;
  /** Event type: a string without CR, LF or a lone surrogate. */
  event?: string;
  /**
   * Event id: a string without CR, LF, U+0000 or a lone surrogate, or a finite number.
   * `''` resets the client's last id; `0` is written.
   */
  id?: string | number;
  /** Reconnection delay in ms: a non-negative integer. `0` is written. */
  retry?: number;
  /** Comment lines (`: text`), written before the fields. A string. */
  comment?: string;
}

export const jsonSerializer: Serializer = (value) => {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // A BigInt or a cycle: say which field, keep the original as the cause.
    if (error instanceof TypeError) {
      throw new TypeError(`SSE field "data" cannot be serialized to JSON: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
  if (text === undefined) throw new TypeError('SSE field "data" cannot be serialized to JSON');
  return text;
};

const LINE_BREAK = /\r\n|\r|\n/;
const CR_OR_LF = /[\r\n]/;

/** `String.prototype.isWellFormed` (ES2024, in Node 20; the project's lib is ES2023). */
type WellFormedCheck = { isWellFormed(): boolean };

/** Names a value's type without running any of its code (no toString, no toPrimitive). */
function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/**
 * Checks a field value and returns the exact string to write. The value must already be a
 * string: converting it here would run the caller's code, which could answer differently the
 * next time it is asked. Throws a TypeError naming the field when `value` is not a string,
 * could forge a second field or event (CR, LF), or would not come back intact (a lone surrogate
 * is encoded as U+FFFD; an id with U+0000 is ignored by browsers).
 */
export function assertFieldValue(field: 'event' | 'id', value: unknown): string {
  if (typeof value !== 'string') {
    throw new TypeError(`SSE field "${field}" must be a string, got ${typeName(value)}`);
  }
  if (CR_OR_LF.test(value)) {
    throw new TypeError(`SSE field "${field}" must not contain CR or LF`);
  }
  // Browsers silently ignore an id containing NUL, so it would never be committed.
  if (field === 'id' && value.includes('\0')) {
    throw new TypeError('SSE field "id" must not contain U+0000 (NUL)');
  }
  // UTF-8 has no lone surrogates: the client would see U+FFFD, and send back another id.
  if (!(value as string & WellFormedCheck).isWellFormed()) {
    throw new TypeError(`SSE field "${field}" must not contain a lone surrogate`);
  }
  return value;
}

export function assertRetry(retry: unknown): asserts retry is number {
  if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
    const got = typeof retry === 'number' ? String(retry) : typeName(retry);
    throw new TypeError(`SSE field "retry" must be a non-negative integer, got ${got}`);
  }
}

function assertComment(comment: unknown): asserts comment is string {
  if (typeof comment !== 'string') {
    throw new TypeError(`SSE field "comment" must be a string, got ${typeName(comment)}`);
  }
}

/** The text of `data`: a string as is, anything else through the serializer, called once. */
function textOf(data: unknown, serialize: Serializer): string {
  if (typeof data === 'string') return data;
  const text: unknown = serialize(data);
  if (typeof text !== 'string') {
    throw new TypeError(
      `SSE field "data": the serializer must return a string, got ${typeName(text)}`,
    );
  }
  return text;
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
  // Each field is read once: a getter could answer differently when asked again.
  const { comment, event, retry, data } = init;
  let out = '';
  if (comment !== undefined) {
    assertComment(comment);
    out += commentLines(comment);
  }
  if (event !== undefined) out += `event: ${assertFieldValue('event', event)}\n`;
  if (retry !== undefined) {
    assertRetry(retry);
    out += `retry: ${retry}\n`;
  }
  if (data !== undefined) out += dataLines(textOf(data, serialize));
  return out;
}

/**
 * Checks an id and returns the text to put after `id: `: a string as is, a finite number in
 * its canonical form (`-0` is `0`). Anything else throws a TypeError naming "id".
 */
export function idText(id: unknown): string {
  if (typeof id === 'number') {
    if (!Number.isFinite(id)) {
      throw new TypeError(`SSE field "id" must be a finite number or a string, got ${id}`);
    }
    return String(id);
  }
  if (typeof id !== 'string') {
    throw new TypeError(`SSE field "id" must be a string or a finite number, got ${typeName(id)}`);
  }
  return assertFieldValue('id', id);
}

/** Joins an id and an encoded body into one complete frame. */
export function frameText(body: string, id?: string): string {
  if (id === undefined) return `${body}\n`;
  return id === '' ? `id:\n${body}\n` : `id: ${id}\n${body}\n`;
}

/**
 * Encodes one event into an immutable frame that can be written to any number of clients.
 * Throws a TypeError naming the field, and produces nothing, on a field that would break the
 * framing or not come back as sent.
 *
 * Every field is type-checked, converted at most once, and the string that was checked is the
 * one written: `event` and `comment` must be strings, `id` a string or a finite number, `retry`
 * a non-negative safe integer, and a serializer must return a string. Nothing calls a value's
 * `toString`, `valueOf` or `Symbol.toPrimitive`, so an object cannot pass the check with one
 * answer and be written with another.
 *
 * Lone surrogates (UTF-16 halves without their pair) have no UTF-8 form. In `id` and `event`
 * they throw, because the client would receive U+FFFD instead, and send back a `Last-Event-ID`
 * that is not the id it was given. In `data` and `comment` they are written as U+FFFD (the
 * bytes EF BF BD), as `Buffer.from` encodes them; the rest of the text is unchanged.
 */
export function encodeEvent(init: SseEventInit, serialize: Serializer = jsonSerializer): Buffer {
  const raw = init.id;
  const id = raw === undefined ? undefined : idText(raw);
  return Buffer.from(frameText(encodeEventBody(init, serialize), id));
}

/** A comment-only frame, e.g. a heartbeat. Dispatches no event on the client. */
export function encodeComment(text: string): Buffer {
  assertComment(text);
  return Buffer.from(commentLines(text));
}
