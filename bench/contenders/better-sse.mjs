/** (4) better-sse on node:http: createSession per request, one createChannel, channel.broadcast. */
import { createChannel, createSession } from 'better-sse';
import { createControl } from './common.mjs';
import { serveNodeHttp } from './serve.mjs';

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

serveNodeHttp(control, (req, res) => {
  createSession(req, res).then(
    (session) => channel.register(session),
    () => res.destroy(),
  );
});
