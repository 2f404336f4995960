/** Reading the id a reconnecting client last committed. */

/** Longest Last-Event-ID honoured, in UTF-8 bytes. Longer ones count as absent. */
export const MAX_LAST_EVENT_ID_BYTES = 256;

/** The parts of a Node, Express or Fastify request that carry a Last-Event-ID. */
export interface RequestLike {
  headers: Record<string, string | string[] | undefined>;
  url?: string | undefined;
  /** `HEAD` gets the stream's headers and no stream. */
  method?: string | undefined;
}

const FORBIDDEN = /[\0\r\n]/;

function valid(id: string): string | undefined {
  if (id === '' || FORBIDDEN.test(id)) return undefined;
  if (Buffer.byteLength(id) > MAX_LAST_EVENT_ID_BYTES) return undefined;
  return id;
}

/**
 * Node decodes header bytes as latin1, while browsers send the id as UTF-8.
 * Returns undefined when the bytes are not valid UTF-8.
 */
function headerToUtf8(raw: string): string | undefined {
  // Code points above U+00FF mean something already decoded the header as text.
  for (let i = 0; i < raw.length; i++) if (raw.charCodeAt(i) > 0xff) return raw;
  const bytes = Buffer.from(raw, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

function fromQuery(url: string | undefined): string | null {
  if (url === undefined) return null;
  const q = url.indexOf('?');
  if (q < 0) return null;
  try {
    return new URLSearchParams(url.slice(q + 1)).get('lastEventId');
  } catch {
    return null;
  }
}

/**
 * The client's last event id: the `Last-Event-ID` header, or else the `lastEventId` query
 * parameter (for clients that can't set headers). Invalid, oversized or empty ids count as absent.
 */
export function lastEventIdFrom(request: RequestLike): string | undefined {
  const header = request.headers['last-event-id'];
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw !== undefined && raw !== '') {
    const text = headerToUtf8(raw);
    return text === undefined ? undefined : valid(text);
  }
  const query = fromQuery(request.url);
  return query === null ? undefined : valid(query);
}
