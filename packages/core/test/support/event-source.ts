/** The real `eventsource` client, with a tap on the raw bytes of the same connection. */
import { EventSource, type FetchLike } from 'eventsource';
import { AsyncQueue } from './async-queue.js';
import { TextWatch } from './text-watch.js';

/** The parts of a MessageEvent the tests look at. */
export interface ReceivedMessage {
  type: string;
  data: string;
  lastEventId: string;
}

/** Copies what a test needs out of a MessageEvent. */
export function received(event: MessageEvent): ReceivedMessage {
  return { type: event.type, data: String(event.data), lastEventId: event.lastEventId };
}

export interface TappedEventSource {
  es: EventSource;
  /** Every `message` event, in order. */
  messages: AsyncQueue<ReceivedMessage>;
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
  const messages = new AsyncQueue<ReceivedMessage>();
  es.onmessage = (event) => messages.push(received(event));
  const opened = new Promise<void>((resolve) =>
    es.addEventListener('open', () => resolve(), { once: true }),
  );
  return { es, messages, raw, opened };
}
