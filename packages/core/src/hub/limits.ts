/**
 * Connection limits: per process, per channel and per key (a user, an IP). A refused client is
 * sent away politely by default (200, `retry:`, end) so browsers come back later, never told to stop.
 */
import { SsekitError } from '../errors.js';
import type { RequestLike } from '../wire/last-event-id.js';

export interface LimitOptions {
  /** Open subscribed streams per process. */
  streams?: number;
  /** Subscribers per channel. */
  perChannel?: number;
  /** Streams per key, as `key(request)` names it (e.g. a user id or an IP). */
  perKey?: number;
  key?: (request: RequestLike | undefined) => string | undefined;
  /**
   * How a refused client is answered: `'retry'` (default) 200 with a jittered `retry:` and an
   * immediate end, so EventSource comes back later; or a status (429 / 503) with `Retry-After`,
   * for clients that handle it.
   */
  refuse?: 'retry' | 429 | 503;
}

/** Why a subscription was turned away: a limit, or a draining hub. Adapters answer it. */
export class LimitRefusal extends SsekitError {
  readonly reason: 'streams' | 'perChannel' | 'perKey' | 'draining';
  /** `'retry'`: 200 + `retry:` + end; else the status to answer, with `Retry-After`. */
  readonly answer: 'retry' | 429 | 503;
  constructor(reason: LimitRefusal['reason'], answer: LimitRefusal['answer']) {
    super('SSEKIT_LIMITED', `ssekit: subscription refused (${reason}); come back later`);
    this.reason = reason;
    this.answer = answer;
  }
  get statusCode(): number {
    return this.answer === 'retry' ? 200 : this.answer;
  }
}

export class Limits {
  private readonly perKey = new Map<string, number>();
  refused = 0;

  constructor(private readonly options: LimitOptions = {}) {}

  /**
   * Admits one more stream on `channels` or throws a LimitRefusal. Returns the key it counted
   * against (release it when the stream ends), if any.
   */
  admit(
    request: RequestLike | undefined,
    open: number,
    subscribersOf: (channel: string) => number,
    channels: readonly string[],
  ): string | undefined {
    const { streams, perChannel, perKey, key } = this.options;
    let reason: LimitRefusal['reason'] | undefined;
    if (streams !== undefined && open >= streams) reason = 'streams';
    else if (perChannel !== undefined && channels.some((c) => subscribersOf(c) >= perChannel))
      reason = 'perChannel';
    const counted = perKey !== undefined && key ? key(request) : undefined;
    if (!reason && counted !== undefined && (this.perKey.get(counted) ?? 0) >= perKey!)
      reason = 'perKey';
    if (reason) throw this.refusal(reason);
    if (counted !== undefined) this.perKey.set(counted, (this.perKey.get(counted) ?? 0) + 1);
    return counted;
  }

  release(key: string): void {
    const left = (this.perKey.get(key) ?? 1) - 1;
    if (left > 0) this.perKey.set(key, left);
    else this.perKey.delete(key);
  }

  refusal(reason: LimitRefusal['reason']): LimitRefusal {
    this.refused++;
    return new LimitRefusal(reason, this.options.refuse ?? 'retry');
  }
}
