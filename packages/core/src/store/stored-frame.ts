/**
 * The frame a store keeps per event, and its size: `id: <id>\n<body>\n`, where `body` is the
 * encoded fields without the id (wire/encode.ts). Defined once: the memory store builds it, the
 * Redis store builds it from stream entries, and Redis's trimming script counts its bytes with
 * `STORED_FRAME_OVERHEAD` (it can't build a Buffer), so byte limits agree event for event.
 */

/** Bytes of a stored frame besides the id and the body: `id: ` and the two newlines. */
export const STORED_FRAME_OVERHEAD = 6;

/** The stored frame of an event: `id: <id>\n<body>\n`. */
export function storedFrame(id: string, body: string): Buffer {
  return Buffer.from(storedFrameText(id, body));
}

/** The same frame as text, for a store that encodes it into its own memory (the memory store's slabs). */
export function storedFrameText(id: string, body: string): string {
  return `id: ${id}\n${body}\n`;
}

/** `storedFrame(id, body).length`, from the UTF-8 byte lengths of the id and the body. */
export function storedFrameBytes(idBytes: number, bodyBytes: number): number {
  return idBytes + bodyBytes + STORED_FRAME_OVERHEAD;
}
