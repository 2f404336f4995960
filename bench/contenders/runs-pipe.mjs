/**
 * (1) The floor: plain, non-resumable `res.sse.pipe(source)` with @ssekit/express. The answer is
 * tied to its connection: when the socket drops, the source is returned and the rest is lost.
 */
import { createHub } from '@ssekit/core';
import { sse } from '@ssekit/express';
import { chatParams, createApp, listen, tokens } from './runs-common.mjs';

const hub = createHub();
const app = createApp({
  name: 'runs-pipe',
  variant: '@ssekit/express res.sse.pipe(), in-memory hub, no run',
});
app.use(sse({ hub }));
app.post('/chat', async (req, res) => {
  const { key, n, interval } = chatParams(req);
  // As @ssekit/express's README has it: pipe, then a `done` event and the end.
  await res.sse.pipe(tokens(key, n, interval, res.sse.signal));
  res.sse.close({ event: 'done', data: '' });
});
listen(app);
