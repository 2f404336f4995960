/**
 * The errors ssekit raises for callers to catch. One base class with a stable `code`, so code
 * that handles them need not match messages; every message starts with `ssekit`.
 */

export class SsekitError extends Error {
  /** Stable, machine-readable: `SSEKIT_...`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A subscription refused before the stream started; adapters answer with `status`:
 * 204 (channel closed: the browser stops), 400 (a bad channel name from the request),
 * 403 (not authorized), 404 (no run with that key).
 */
export class SseRefusal extends SsekitError {
  readonly status: 204 | 400 | 403 | 404;
  readonly channel: string;
  constructor(status: 204 | 400 | 403 | 404, channel: string, message?: string) {
    super(
      'SSEKIT_REFUSED',
      message ??
        (status === 403
          ? `ssekit: access to channel "${channel}" denied`
          : status === 204
            ? `ssekit: channel "${channel}" is closed`
            : `ssekit: invalid channel name ${JSON.stringify(channel)}`),
    );
    this.status = status;
    this.channel = channel;
  }
  /** Express and Fastify error handlers read `statusCode`. */
  get statusCode(): number {
    return this.status;
  }
}

/**
 * The store can't be reached (Redis down, hung, or closed). Nothing was stored, or, for a
 * command that was in flight, maybe. Store packages throw subclasses of it; the hub and the
 * adapters treat every one the same way (a subscriber is told to retry later, never refused).
 */
export class StoreUnavailableError extends SsekitError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'SSEKIT_STORE_UNAVAILABLE', message, options);
  }
}

/** A publish to, or a close of, a channel that was closed with `closeChannel`. */
export class ChannelClosedError extends SsekitError {
  readonly channel: string;
  constructor(channel: string) {
    super('SSEKIT_CHANNEL_CLOSED', `ssekit: channel "${channel}" is closed`);
    this.channel = channel;
  }
}

/** A publish or subscribe after `hub.close()`. */
export class HubClosedError extends SsekitError {
  constructor() {
    super('SSEKIT_HUB_CLOSED', 'ssekit: the hub is closed');
  }
}

/** `subscribe()` called a second time on one stream: pass every channel to one call. */
export class AlreadySubscribedError extends SsekitError {
  constructor() {
    super(
      'SSEKIT_ALREADY_SUBSCRIBED',
      'ssekit: this stream is already subscribed; pass every channel to one subscribe() call',
    );
  }
}
