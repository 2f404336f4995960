/**
 * The plugin: a lazy `reply.sse` getter, the `sse` route option read in `onRoute`, and a
 * `preClose` hook that ends open streams so `app.close()` never waits on a connected client.
 */
import type { Http2Session } from 'node:http2';
import { type EventMap, encodeEvent } from '@ssekit/core';
import { checkAdapterOptions, LogLimiter } from '@ssekit/core/adapter';
import type { FastifyInstance, FastifyReply, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { createReplySse, OpenStreams, type PluginState, REPLY_SSE } from './reply-sse.js';
import {
  answerHead,
  channel,
  isChannelHandler,
  PLUGIN_STATE,
  registerPluginState,
  validateRouteOption,
} from './route-option.js';
import type { ReplySse, SseOptions } from './types.js';

function describe(route: RouteOptions): string {
  const method = Array.isArray(route.method) ? route.method.join(',') : route.method;
  return `route ${method} ${route.url}`;
}

/** Validates the `sse` route option at registration; a bad value makes `register`/`ready` fail. */
function onRoute(route: RouteOptions): void {
  const option: unknown = (route as RouteOptions & { sse?: unknown }).sse;
  if (option === undefined) return;
  const where = describe(route);
  const config = validateRouteOption(where, option);
  const ours = isChannelHandler(route.handler);
  if (config !== true && !ours) {
    throw new TypeError(
      `ssekit: ${where}: "sse.channels" is served by ssekit, so it needs ssekit's handler. ` +
        'Write `app.get(url, channel(channels, options))`, or use `sse: true` and call reply.sse.subscribe() in your handler.',
    );
  }
  if (route.method === 'HEAD' && !ours) {
    // Fastify's automatic HEAD twin of an SSE GET: answer the headers, don't open a stream.
    route.handler = function headOfSseRoute(_request, reply) {
      return answerHead(reply);
    };
  }
}

/** Options Fastify itself reads from `register(plugin, options)`; not ours to check. */
const REGISTER_KEYS = new Set(['prefix', 'logLevel', 'logSerializers']);

async function ssekitPlugin(app: FastifyInstance, given: SseOptions<EventMap>): Promise<void> {
  const options = Object.fromEntries(
    Object.entries(given ?? {}).filter(([key]) => !REGISTER_KEYS.has(key)),
  ) as SseOptions<EventMap>;
  // The same checks as sse() in @ssekit/express: a bad option fails `register`.
  checkAdapterOptions('register(sse)', options);
  const { hub, onError, finalEvent, logger, drainMs, ...streamOptions } = options;
  // Encoded now, so a bad final event fails `register`, not `app.close()`.
  const finalFrame = finalEvent ? encodeEvent(finalEvent, streamOptions.serializer) : undefined;
  const state: PluginState = {
    hub,
    streamOptions,
    onError,
    logger,
    limiter: new LogLimiter(),
    finalEvent: finalFrame,
    open: new OpenStreams(),
    closing: false,
  };

  app.decorateReply(PLUGIN_STATE, { getter: () => state });
  registerPluginState(app.server, state);
  // A getter on the prototype: routes that never read reply.sse allocate nothing.
  app.decorateReply('sse', {
    getter(this: FastifyReply & { [REPLY_SSE]?: ReplySse<EventMap> }) {
      // Cached in a plain slot (defining an own 'sse' would cost the reply far more memory), so
      // every later read sees the same stream.
      this[REPLY_SSE] ??= createReplySse(this, state);
      return this[REPLY_SSE];
    },
  });

  app.addHook('onRoute', onRoute);

  app.addHook('preClose', async () => {
    // Streams end spread over the window and resume elsewhere; what is left (streams the hub
    // doesn't know, or started meanwhile) is ended below.
    if (drainMs !== undefined && hub) await hub.drain({ withinMs: drainMs });
    state.closing = true;
    const sessions = new Set<Http2Session>();
    for (const [stream, session] of [...state.open]) {
      stream.shutdown(finalFrame);
      if (session) sessions.add(session);
    }
    // Before Node 24, Fastify leaves HTTP/2 sessions open unless forceCloseConnections is true,
    // so server.close() would wait for the client. Close ours gracefully: the final events flush.
    for (const session of sessions) if (!session.closed && !session.destroyed) session.close();
  });
}

/**
 * `await app.register(sse, { hub, ...streamOptions })`: gives every reply a lazy `reply.sse`
 * and reads the `sse` route option. Wrapped with fastify-plugin, so it reaches the whole app.
 * The entry point, as `app.use(sse({ hub }))` in @ssekit/express; `sse.channel` is `channel`.
 */
export const sse = Object.assign(fp(ssekitPlugin, { name: '@ssekit/fastify', fastify: '5.x' }), {
  channel,
});

/**
 * The former name of `sse` (also the default export).
 * @deprecated Use `sse`: `app.register(sse, options)`.
 */
export const ssekit: typeof sse = sse;
