/** The real `eventsource` client, with a tap on the raw bytes of the same connection. */
import { EventSource, type FetchLike } from 'eventsource';
import { AsyncQueue } from './async-queue.js';
import { TextWatch } from './text-watch.js';

export interface TappedEventSource {
  es: EventSource;
  /** Every `message` event, in order. */
  messages: AsyncQueue<MessageEvent<string>>;
  /** The raw body text of every connection this client made, concatenated. */
  raw: TextWatch;
  /** Resolves on the first `open`. */
  opened: Promise<void>;
}

/** A fetch that hands EventSource one branch of the body and copies the other into `raw`. */
function tappingFetch(raw: TextWatch): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (!response.body) return response;
    const [forClient, forTap] = response.body.tee();
    void (async () => {
      const decoder = new TextDecoder();
      const reader = forTap.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          raw.append(decoder.decode(value, { stream: true }));
        }
      } catch {
        // The client aborted the request: nothing more to copy.
      }
    })();
    return new Response(forClient, { status: response.status, headers: response.headers });
  };
}

export function openEventSource(url: string): TappedEventSource {
  const raw = new TextWatch();
  const es = new EventSource(url, { fetch: tappingFetch(raw) });
  const messages = new AsyncQueue<MessageEvent<string>>();
  es.onmessage = (event) => messages.push(event);
  const opened = new Promise<void>((resolve) => es.addEventListener('open', () => resolve(), { once: true }));
  return { es, messages, raw, opened };
}
