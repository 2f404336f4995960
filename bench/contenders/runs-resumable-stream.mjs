/**
 * (4) The npm package `resumable-stream` (Vercel's, used with the AI SDK) with node-redis on the
 * same redis-server, in the shape its README gives: POST creates the stream
 * (`createNewResumableStream`) and answers with it; GET resumes it by a character offset
 * (`resumeExistingStream(key, resumeAt)`); a finished stream answers 422. It resumes by
 * characters and ignores Last-Event-ID, so the frames carry no id. It has no stop.
 */
import { createClient } from 'redis';
import { createResumableStreamContext } from 'resumable-stream';
import { chatParams, createApp, listen, tokens } from './runs-common.mjs';

const url = process.env.REDIS_URL;
const publisher = createClient({ url });
const subscriber = createClient({ url });
await Promise.all([publisher.connect(), subscriber.connect()]);
let producing = 0;
const context = createResumableStreamContext({
  keyPrefix: process.env.REDIS_PREFIX ?? 'bench',
  publisher,
  subscriber,
  // A long-running server: nothing to keep alive, just count what is still producing.
  waitUntil: (promise) => {
    producing++;
    promise.finally(() => producing--);
  },
});

const app = createApp({
  name: 'runs-resumable-stream',
  variant: 'resumable-stream 2.2.13 + redis (node-redis) 5.12.1 on express 5.3.0',
  extraStats: () => ({ runs: producing }),
});

/** Writes a stream of strings to the response; stops reading (not the producer) when it closes. */
async function send(res, stream) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.flushHeaders();
  const reader = stream.getReader();
  res.on('close', () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      res.write(value);
    }
  } catch {
    // The client left.
  }
  res.end();
}

app.post('/chat', async (req, res, next) => {
  try {
    const { key, n, interval } = chatParams(req);
    const stream = await context.createNewResumableStream(key, () =>
      ReadableStream.from(tokens(key, n, interval)).pipeThrough(
        new TransformStream({
          transform(token, controller) {
            controller.enqueue(`data: ${token}\n\n`);
          },
        }),
      ),
    );
    await send(res, stream);
  } catch (error) {
    next(error);
  }
});

app.get('/chat/:key', async (req, res, next) => {
  try {
    const resumeAt = req.query.resumeAt === undefined ? undefined : Number(req.query.resumeAt);
    const stream = await context.resumeExistingStream(req.params.key, resumeAt);
    if (stream === undefined) res.status(404).end();
    else if (stream === null) res.status(422).end('Stream is already done');
    else await send(res, stream);
  } catch (error) {
    next(error);
  }
});
listen(app);
