import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type CloseReason, encodeEvent, type SseStreamOptions } from '@ssekit/core';
import {
  cleanupAfterEach,
  type RawClient,
  rawGet,
  type ServedStream,
  startSseServer,
} from '@ssekit/test-support';
import { describe, expect, it } from 'vitest';

const MB = 1024 * 1024;
const FRAME = encodeEvent({ data: 'x'.repeat(64 * 1024) });
const FRAME_MARK = 'data: xxxxxxxx';
const MAX_QUEUE = 512 * 1024;

const cleanups = cleanupAfterEach();

/** A server with one stream, and a raw client that stops reading once headers arrived. */
async function stalledClient(
  options: SseStreamOptions,
): Promise<{ served: ServedStream; client: RawClient; reasons: CloseReason[] }> {
  const srv = await startSseServer(options);
  cleanups.push(() => srv.close());
  const client = rawGet(`${srv.url}/sse`);
  cleanups.push(() => void client.socket.destroy());
  const served = await srv.streams.next();
  await client.headers;
  client.socket.pause();
  const reasons: CloseReason[] = [];
  served.stream.onClose((reason) => reasons.push(reason));
  return { served, client, reasons };
}

interface WriteReport {
  accepted: number;
  refused: number;
  /** Largest per-stream queue seen, in bytes. */
  maxQueued: number;
  /** Largest amount Node's response itself buffered, in bytes. */
  maxBuffered: number;
}

/** Writes up to `total` bytes of frames, yielding to the event loop so the socket can drain. */
async function writeFrames(
  { stream, res }: ServedStream,
  total: number,
  until: () => boolean = () => false,
): Promise<WriteReport> {
  const report: WriteReport = { accepted: 0, refused: 0, maxQueued: 0, maxBuffered: 0 };
  for (let written = 0; written < total && !until(); written += FRAME.length) {
    if (stream.write(FRAME)) report.accepted++;
    else report.refused++;
    report.maxQueued = Math.max(report.maxQueued, stream.queuedBytes);
    report.maxBuffered = Math.max(report.maxBuffered, res.writableLength);
    await nextTurn();
  }
  return report;
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('a client that stops reading while 50 MB are written', () => {
  it('keeps memory bounded and closes the client with reason overflow (default policy)', async () => {
    const { served, client, reasons } = await stalledClient({ maxQueueBytes: MAX_QUEUE });
    const report = await writeFrames(served, 50 * MB);

    expect(reasons).toEqual(['overflow']);
    expect(served.stream.closeReason).toBe('overflow');
    expect(served.stream.signal.aborted).toBe(true);
    expect(report.maxQueued).toBeLessThanOrEqual(MAX_QUEUE);
    // Once Node's own buffer reported backpressure, frames went to the bounded queue instead.
    expect(report.maxBuffered).toBeLessThanOrEqual(
      served.res.writableHighWaterMark + FRAME.length + 64,
    );
    // Most of the 50 MB was refused, not buffered.
    expect(report.refused * FRAME.length).toBeGreaterThan(30 * MB);
    // A paused socket does not notice the reset; reading again shows the server dropped it.
    client.socket.resume();
    await client.closed;
  });

  it("with the 'drop' policy, drops frames, stays open and delivers what it accepted", async () => {
    const { served, client, reasons } = await stalledClient({
      maxQueueBytes: MAX_QUEUE,
      overflow: 'drop',
    });
    const report = await writeFrames(served, 50 * MB);

    expect(served.stream.closed).toBe(false);
    expect(reasons).toEqual([]);
    expect(report.refused).toBeGreaterThan(0);
    expect(report.maxQueued).toBeLessThanOrEqual(MAX_QUEUE);
    expect(report.maxBuffered).toBeLessThanOrEqual(
      served.res.writableHighWaterMark + FRAME.length + 64,
    );

    client.socket.resume();
    await served.stream.drained();
    served.stream.send('done');
    await client.received.until((text) => text.includes('data: done\n\n'));
    expect(served.stream.queuedBytes).toBe(0);
    expect(count(client.received.text, FRAME_MARK)).toBe(report.accepted);
  });

  it('closes a peer that has not drained within the write timeout', async () => {
    const { served, client, reasons } = await stalledClient({
      maxQueueBytes: 64 * MB,
      writeTimeout: 100,
      heartbeat: false,
    });
    // Write until the stream is queueing, then stop: only the timeout can end this.
    const report = await writeFrames(served, 50 * MB, () => served.stream.queuedBytes > 0);
    expect(report.refused).toBe(0);
    expect(served.stream.queuedBytes).toBeGreaterThan(0);

    await once(served.stream.signal, 'abort');
    expect(reasons).toEqual(['timeout']);
    expect(served.stream.queuedBytes).toBe(0);
    client.socket.resume();
    await client.closed;
  });

  it('close() with a final event on a stalled client delivers the queue, then the final event', async () => {
    const { served, client, reasons } = await stalledClient({ maxQueueBytes: 4 * MB });
    const report = await writeFrames(served, 50 * MB, () => served.stream.queuedBytes > 0);
    served.stream.close({ event: 'bye', data: 'server restarting' });
    expect(reasons).toEqual(['server']);

    client.socket.resume();
    await client.closed;
    const text = client.received.text;
    expect(count(text, FRAME_MARK)).toBe(report.accepted);
    expect(text).toContain('event: bye\ndata: server restarting\n\n');
    // The chunked response ended cleanly after the final event.
    expect(text.endsWith('0\r\n\r\n')).toBe(true);
  });

  it('after close(), drops a client that still does not read within the write timeout', async () => {
    const { served, client, reasons } = await stalledClient({
      maxQueueBytes: 4 * MB,
      writeTimeout: 100,
    });
    await writeFrames(served, 50 * MB, () => served.stream.queuedBytes > 0);
    served.stream.close({ data: 'bye' });
    // The kernel buffers are full and the client never reads, so the response cannot finish on
    // its own: 'close' only comes because the server gave up on the socket.
    await once(served.res, 'close');
    expect(served.req.socket.destroyed).toBe(true);
    expect(reasons).toEqual(['server']);
    client.socket.resume();
    await client.closed;
  });
});
