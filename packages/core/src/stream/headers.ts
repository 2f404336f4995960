/** The response headers of an event stream. */

export function sseHeaders(
  isHttp1: boolean,
  extra: Record<string, string> | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'text/event-stream; charset=utf-8',
    // no-transform also keeps the compression middleware off the stream.
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
    ...extra,
  };
  // HTTP/2 forbids connection-specific headers.
  if (isHttp1) headers.Connection = 'keep-alive';
  return headers;
}
