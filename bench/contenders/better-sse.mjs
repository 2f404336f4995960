/** (4) better-sse on node:http: createSession per request, one createChannel, channel.broadcast. */
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';
import { createControl, handleControl, reportReady } from './common.mjs';

const channel = createChannel();

const control = createControl({
  name: 'better-sse',
  variant: 'better-sse 0.16.1 on node:http, createChannel().broadcast',
  clients: () => channel.sessionCount,
  publish(payload, seq) {
    const eventId = String(seq);
    channel.broadcast(payload, 'message', { eventId });
    return eventId;
  },
});

const server = createServer((req, res) => {
  if (handleControl(control, req, res)) return;
  if (req.method === 'GET' && req.url === '/sse') {
    createSession(req, res).then(
      (session) => channel.register(session),
      () => res.destroy(),
    );
    return;
  }
  res.writeHead(404).end();
});

server.listen(0, '127.0.0.1', () => reportReady(server.address().port));
