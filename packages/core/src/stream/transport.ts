/**
 * The few things a stream needs from Node's response objects, for HTTP/1 `ServerResponse`,
 * HTTP/2 `Http2ServerResponse` (compatibility API) and a raw `ServerHttp2Stream`. Functions of
 * the target rather than a wrapper object: an idle connection holds the target and no wrapper.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerResponse, ServerHttp2Stream } from 'node:http2';

export type SseTarget = ServerResponse | Http2ServerResponse | ServerHttp2Stream;

/** Who hears that the peer left or drained: the stream, without a closure per connection. */
export interface TransportOwner {
  peerClosed(): void;
  peerDrained(): void;
}

const OWNER = Symbol('ssekit.owner');
type Owned = { [OWNER]?: TransportOwner };
/** What every target is, as far as listening and writing go. */
type Emitter = NodeJS.EventEmitter & Owned & { write(chunk: Buffer): boolean };

// Shared listener: Node calls it with the emitter as `this`, which carries its owner.
function onPeerClose(this: Owned): void {
  this[OWNER]?.peerClosed();
}

function isRawStream(target: SseTarget): target is ServerHttp2Stream {
  return typeof (target as ServerHttp2Stream).respond === 'function';
}

const ignore = (): void => {};

/** Starts telling `owner` when the peer leaves: a shared listener for the first owner, a closure after. */
export function watchPeer(target: SseTarget, owner: TransportOwner): void {
  const emitter = target as Emitter;
  // A peer that vanishes mid-write surfaces as an 'error' here; 'close' already reports it.
  emitter.on('error', ignore);
  if (emitter[OWNER] === undefined) {
    emitter[OWNER] = owner;
    emitter.on('close', onPeerClose);
  } else {
    // A second stream on the same response (say, made in a hook, then by a route) hears it too.
    emitter.on('close', () => owner.peerClosed());
  }
}

/** Starts telling `owner` about 'drain' (only streams that ever fall behind need it). */
export function watchDrain(target: SseTarget, owner: TransportOwner): void {
  // A closure, not a shared listener: compression re-emits 'drain' from its zlib stream, so
  // `this` is not the response there. Only streams that ever stall pay for it.
  (target as Emitter).on('drain', () => owner.peerDrained());
}

/** Listens for 'close' (or 'drain') on the target. */
export function onTarget(target: SseTarget, event: 'drain' | 'close', listener: () => void): void {
  (target as Emitter).on(event, listener);
}

/** True when the peer is gone or the response is already finished. */
export function isGone(target: SseTarget): boolean {
  if (isRawStream(target)) return target.destroyed || target.closed || target.writableEnded;
  return target.writableEnded || target.destroyed || (target.socket?.destroyed ?? true);
}

/** HTTP/1, where a connection header is allowed (HTTP/2 forbids connection-specific headers). */
export function isHttp1(target: SseTarget): boolean {
  return !isRawStream(target) && !('stream' in target);
}

/** Sends status and headers at once. `headers` are the SSE ones; the app's own are kept. */
export function commit(target: SseTarget, headers: Record<string, string>): void {
  if (isRawStream(target)) {
    const out: OutgoingHttpHeaders = { ':status': 200 };
    for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
    target.respond(out);
    return;
  }
  const res = target as ServerResponse;
  // writeHead merges these over headers the app set earlier, and builds no header map when
  // there are none (about 0.5 KB per idle connection).
  res.writeHead(200, headers);
  if (typeof res.flushHeaders === 'function') res.flushHeaders();
  // Each frame should leave at once rather than wait for Nagle's algorithm.
  // Injected requests (light-my-request, Fastify's inject) have a socket stand-in without it.
  if (isHttp1(target) && typeof res.socket?.setNoDelay === 'function') res.socket.setNoDelay(true);
}

export function write(target: SseTarget, chunk: Buffer): boolean {
  return (target as Emitter).write(chunk);
}

/** Ends the response; with `closeConnection`, also its HTTP/1 connection (for shutdown). */
export function end(target: SseTarget, closeConnection: boolean): void {
  if (isRawStream(target)) {
    target.end();
    return;
  }
  // On shutdown, close the connection once the last chunk is out: an idle keep-alive socket
  // would keep server.close() waiting. Otherwise keep it: a client may reuse it.
  // (Listen for 'finish' rather than pass a callback: compression's res.end takes no callback.)
  const socket = closeConnection && isHttp1(target) ? target.socket : null;
  if (socket) target.once('finish', () => socket.end());
  target.end();
}

export function destroy(target: SseTarget): void {
  if (isRawStream(target)) target.close();
  else if ('stream' in target) target.stream.close();
  else target.destroy();
}
