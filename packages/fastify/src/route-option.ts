/**
 * The `sse` route option: validated when the route is registered, and `channel()`, which
 * returns the option together with the handler that serves it.
 */
import type { EventMap } from '@ssekit/core';
import type { FastifyReply, FastifyRequest, RawServerBase, RouteGenericInterface } from 'fastify';
import { createReplySse, type PluginState, REPLY_SSE } from './reply-sse.js';
import type {
  ChannelList,
  ChannelSource,
  RegisteredEvents,
  ReplySse,
  SseRouteConfig,
  SseRouteOption,
  SseSubscribeOptions,
} from './types.js';

/** Where the plugin keeps its state on the Reply prototype (a getter, so nothing per reply). */
export const PLUGIN_STATE = Symbol.for('@ssekit/fastify.state');
/** Marks handlers made by `channel()`, so the route hook can tell them from the app's own. */
const CHANNEL_HANDLER = Symbol.for('@ssekit/fastify.channelHandler');

const ROUTE_KEYS = new Set(['channels', 'authorize', 'heartbeat', 'gapReplay', 'filter']);

function invalid(where: string, message: string): TypeError {
  return new TypeError(`@ssekit/fastify: ${where}: invalid "sse" route option: ${message}`);
}

function checkChannelList(where: string, value: unknown): void {
  const names = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(names) || names.length === 0) {
    throw invalid(
      where,
      '"channels" must be a channel name, a non-empty array of names, or (request) => names',
    );
  }
  for (const name of names) {
    if (typeof name !== 'string' || name === '') {
      throw invalid(where, `"channels" must hold non-empty strings, got ${JSON.stringify(name)}`);
    }
  }
}

/** Throws a TypeError naming the route and the problem; returns the option as typed. */
export function validateRouteOption(where: string, value: unknown): SseRouteOption<EventMap> {
  if (value === true) return true;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(where, `expected true or { channels, ... }, got ${JSON.stringify(value)}`);
  }
  const config = value as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if (!ROUTE_KEYS.has(key)) {
      throw invalid(where, `unknown key "${key}" (known: ${[...ROUTE_KEYS].join(', ')})`);
    }
  }
  if (config.channels === undefined) {
    throw invalid(
      where,
      '"channels" is required; for a route with its own handler use `sse: true`',
    );
  }
  if (typeof config.channels !== 'function') checkChannelList(where, config.channels);
  for (const key of ['authorize', 'filter'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'function') {
      throw invalid(where, `"${key}" must be a function`);
    }
  }
  const { heartbeat, gapReplay } = config;
  if (
    heartbeat !== undefined &&
    heartbeat !== false &&
    !(typeof heartbeat === 'number' && Number.isInteger(heartbeat) && heartbeat > 0)
  ) {
    throw invalid(where, '"heartbeat" must be a positive integer (ms) or false');
  }
  if (gapReplay !== undefined && gapReplay !== 'available' && gapReplay !== 'none') {
    throw invalid(where, '"gapReplay" must be "available" or "none"');
  }
  return config as unknown as SseRouteConfig<EventMap>;
}

export function isChannelHandler(handler: unknown): boolean {
  return typeof handler === 'function' && CHANNEL_HANDLER in handler;
}

type ReplyWithState = FastifyReply & { [PLUGIN_STATE]?: PluginState };

/** The plugin state of the reply's context, or a clear error when the plugin isn't there. */
/**
 * The plugin registrations of each server. A `channel()` route in an encapsulated context the
 * plugin doesn't reach still works when the app registered the plugin exactly once.
 */
const registrations = new WeakMap<object, PluginState[]>();

export function registerPluginState(server: object, state: PluginState): void {
  const states = registrations.get(server) ?? [];
  states.push(state);
  registrations.set(server, states);
}

export function pluginStateOf(reply: FastifyReply, where: string): PluginState {
  const state = (reply as ReplyWithState)[PLUGIN_STATE];
  if (state) return state;
  const elsewhere = registrations.get(reply.server.server) ?? [];
  if (elsewhere.length === 1) return elsewhere[0]!;
  throw new Error(
    `@ssekit/fastify: ${where} is served by ssekit, but the plugin is not registered in this route's context` +
      (elsewhere.length > 1
        ? `, and ${elsewhere.length} other contexts register it (which one?). `
        : '. ') +
      'Register it with fastify-plugin semantics on an ancestor: `await app.register(ssekit, { hub })`.',
  );
}

/** The event-stream headers and no body: what HEAD on an SSE route answers. */
export function answerHead(reply: FastifyReply): FastifyReply {
  return reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    .send();
}

/** Any Fastify request or reply, whatever the server (HTTP/1, HTTP/2, HTTPS). */
type AnyRequest = FastifyRequest<RouteGenericInterface, RawServerBase>;
type AnyReply = FastifyReply<RouteGenericInterface, RawServerBase>;

export interface ChannelRoute<Events extends EventMap> {
  sse: SseRouteConfig<Events>;
  // Method syntax (bivariant) so the handler fits routes of any server type.
  handler(request: AnyRequest, reply: AnyReply): Promise<unknown>;
}

/**
 * Serves hub channels with no handler code: `app.get('/prices', channel('prices'))`, or
 * `app.get('/rooms/:id', { ...channel((req) => [`room:${req.params.id}`], { authorize }), onRequest: auth })`.
 * The settings are validated here, when the route is declared. A denied channel answers 403
 * through Fastify's error handler; a closed channel answers 204.
 */
export function channel<Events extends EventMap = RegisteredEvents>(
  channels: ChannelSource<NoInfer<Events>>,
  options: Omit<SseRouteConfig<Events>, 'channels'> = {},
): ChannelRoute<Events> {
  const config = { ...options, channels } as SseRouteConfig<Events>;
  validateRouteOption(
    `channel(${typeof channels === 'function' ? 'fn' : JSON.stringify(channels)})`,
    config,
  );
  const { heartbeat, authorize, filter, gapReplay } = config;
  const subscribeOptions: SseSubscribeOptions = {
    ...(authorize ? { authorize } : {}),
    ...(filter ? { filter } : {}),
    ...(gapReplay ? { gapReplay } : {}),
  };
  const overrides = heartbeat === undefined ? undefined : { heartbeat };
  const handler = async (anyRequest: AnyRequest, anyReply: AnyReply): Promise<unknown> => {
    const request = anyRequest as FastifyRequest;
    const reply = anyReply as unknown as FastifyReply;
    const where = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const state = pluginStateOf(reply, where);
    if (request.method === 'HEAD') return answerHead(reply);
    const names = (
      typeof channels === 'function' ? await channels(request) : channels
    ) as ChannelList;
    const sse = createReplySse(reply, state, overrides) as ReplySse;
    // Later reads of reply.sse (e.g. in onResponse) see this stream.
    (reply as FastifyReply & { [REPLY_SSE]?: ReplySse })[REPLY_SSE] = sse;
    // subscribe() answers refusals itself (403 through the error handler, 204) and never rejects.
    await sse.subscribe(names, subscribeOptions);
    return reply;
  };
  Object.defineProperty(handler, CHANNEL_HANDLER, { value: true });
  return { sse: config, handler };
}
