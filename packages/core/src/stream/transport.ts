/**
 * The few things a stream needs from Node's response objects, for HTTP/1 `ServerResponse`,
 * HTTP/2 `Http2ServerResponse` (compatibility API) and a raw `ServerHttp2Stream`.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerResponse, ServerHttp2Stream } from 'node:http2';

export type SseTarget = ServerResponse | Http2ServerResponse | ServerHttp2Stream;

export interface Transport {
  /** Sends status and headers at once. `headers` are the SSE ones; the app's own are kept. */
  commit(headers: Record<string, string>): void;
  write(chunk: Buffer): boolean;
  /** Ends the response; with `closeConnection`, also its HTTP/1 connection (for shutdown). */
  end(closeConnection: boolean): void;
  destroy(): void;
  /** True when the peer is gone or the response is already finished. */
  readonly gone: boolean;
  readonly isHttp1: boolean;
  on(event: 'drain' | 'close', listener: () => void): void;
  /** Starts telling the owner about 'drain' (only streams that ever fall behind need it). */
  watchDrain(): void;
}

/** Who hears that the peer left or drained: the stream, without a closure per connection. */
export interface TransportOwner {
  peerClosed(): void;
  peerDrained(): void;
}

const OWNER = Symbol('ssekit.owner');
type Owned = { [OWNER]?: TransportOwner };

// Shared listener: Node calls it with the emitter as `this`, which carries its owner.
function onPeerClose(this: Owned): void {
  this[OWNER]?.peerClosed();
}

/** Tells `owner` when `emitter` closes: a shared listener for the first owner, a closure after. */
function watchClose(emitter: NodeJS.EventEmitter & Owned, owner: TransportOwner): void {
  if (emitter[OWNER] === undefined) {
    emitter[OWNER] = owner;
    emitter.on('close', onPeerClose);
  } else {
    // A second stream on the same response (say, made in a hook, then by a route) hears it too.
    emitter.on('close', () => owner.peerClosed());
  }
}

function isRawStream(target: SseTarget): target is ServerHttp2Stream {
  return typeof (target as ServerHttp2Stream).respond === 'function';
}

const ignore = (): void => {};

class ResponseTransport implements Transport {
  readonly isHttp1: boolean;
  constructor(
    private readonly res: ServerResponse | Http2ServerResponse,
    private readonly owner: TransportOwner,
  ) {
    // A peer that vanishes mid-write surfaces as an 'error' here; 'close' already reports it.
    res.on('error', ignore);
    watchClose(res, owner);
    this.isHttp1 = !('stream' in res);
  }
  watchDrain(): void {
    // A closure, not the shared listener: compression re-emits 'drain' from its zlib stream,
    // so `this` is not the response there. Only streams that ever stall pay for it.
    this.res.on('drain', () => this.owner.peerDrained());
  }
  get gone(): boolean {
    const res = this.res;
    return res.writableEnded || res.destroyed || (res.socket?.destroyed ?? true);
  }
  commit(headers: Record<string, string>): void {
    const res = this.res as ServerResponse;
    // writeHead merges these over headers the app set earlier, and builds no header map when
    // there are none (about 0.5 KB per idle connection).
    res.writeHead(200, headers);
    if (typeof res.flushHeaders === 'function') res.flushHeaders();
    // Each frame should leave at once rather than wait for Nagle's algorithm.
    // Injected requests (light-my-request, Fastify's inject) have a socket stand-in without it.
    if (this.isHttp1 && typeof res.socket?.setNoDelay === 'function') res.socket.setNoDelay(true);
  }
  write(chunk: Buffer): boolean {
    return (this.res as ServerResponse).write(chunk);
  }
  end(closeConnection: boolean): void {
    // On shutdown, close the connection once the last chunk is out: an idle keep-alive socket
    // would keep server.close() waiting. Otherwise keep it: a client may reuse it.
    // (Listen for 'finish' rather than pass a callback: compression's res.end takes no callback.)
    const socket = closeConnection && this.isHttp1 ? this.res.socket : null;
    if (socket) this.res.once('finish', () => socket.end());
    this.res.end();
  }
  destroy(): void {
    if ('stream' in this.res) this.res.stream.close();
    else this.res.destroy();
  }
  on(event: 'drain' | 'close', listener: () => void): void {
    this.res.on(event, listener);
  }
}

class Http2StreamTransport implements Transport {
  readonly isHttp1 = false;
  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly owner: TransportOwner,
  ) {
    stream.on('error', ignore);
    watchClose(stream, owner);
  }
  watchDrain(): void {
    this.stream.on('drain', () => this.owner.peerDrained());
  }
  get gone(): boolean {
    return this.stream.destroyed || this.stream.closed || this.stream.writableEnded;
  }
  commit(headers: Record<string, string>): void {
    const out: OutgoingHttpHeaders = { ':status': 200 };
    for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
    this.stream.respond(out);
  }
  write(chunk: Buffer): boolean {
    return this.stream.write(chunk);
  }
  end(): void {
    this.stream.end();
  }
  destroy(): void {
    this.stream.close();
  }
  on(event: 'drain' | 'close', listener: () => void): void {
    this.stream.on(event, listener);
  }
}

export function transportFor(target: SseTarget, owner: TransportOwner): Transport {
  return isRawStream(target)
    ? new Http2StreamTransport(target, owner)
    : new ResponseTransport(target, owner);
}
