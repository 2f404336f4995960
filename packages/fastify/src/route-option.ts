/**
 * The `sse` route option: validated when the route is registered, and `channel()`, which
 * returns the option together with the handler that serves it.
 */
import type { EventMap } from '@ssekit/core';
import { checkChannelList, checkChannelOptions } from '@ssekit/core/adapter';
import type { FastifyReply, FastifyRequest, RawServerBase, RouteGenericInterface } from 'fastify';
import { createReplySse, type PluginState, REPLY_SSE, type RouteSettings } from './reply-sse.js';
import type {
  ChannelList,
  ChannelSource,
  RegisteredEvents,
  ReplySse,
  SseChannelOptions,
  SseChannelRouteConfig,
  SseRouteOption,
  SseSubscribeOptions,
} from './types.js';

/** Where the plugin keeps its state on the Reply prototype (a getter, so nothing per reply). */
export const PLUGIN_STATE = Symbol.for('@ssekit/fastify.state');
/** Marks handlers made by `channel()`, so the route hook can tell them from the app's own. */
const CHANNEL_HANDLER = Symbol.for('@ssekit/fastify.channelHandler');

function invalid(where: string, message: string): TypeError {
  return new TypeError(`ssekit: ${where}: invalid "sse" route option: ${message}`);
}

/**
 * Validates the `sse` route option: its shape here (`true` or `{ channels, ...options }`), the
 * channels and the options with core's checks, as `channel()` in both adapters. Throws a
 * TypeError naming the route and the option; returns the option as typed.
 */
export function validateRouteOption(where: string, value: unknown): SseRouteOption<EventMap> {
  if (value === true) return true;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(where, `expected true or { channels, ... }, got ${JSON.stringify(value)}`);
  }
  const { channels, ...options } = value as Record<string, unknown>;
  if (channels === undefined) {
    throw invalid(
      where,
      '"channels" is required; for a route with its own handler use `sse: true`',
    );
  }
  const named = `${where}, "sse" route option`;
  checkChannelList(named, channels);
  checkChannelOptions(named, options);
  return value as SseChannelRouteConfig<EventMap>;
}

export function isChannelHandler(handler: unknown): boolean {
  return typeof handler === 'function' && CHANNEL_HANDLER in handler;
}

type ReplyWithState = FastifyReply & { [PLUGIN_STATE]?: PluginState };

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
    `ssekit: ${where} is served by ssekit, but the plugin is not registered in this route's context` +
      (elsewhere.length > 1
        ? `, and ${elsewhere.length} other contexts register it (which one?). `
        : '. ') +
      'Register it with fastify-plugin semantics on an ancestor: `await app.register(sse, { hub })`.',
  );
}

/**
 * Fastify's automatic HEAD twin of an SSE GET runs the app's handler; instead, core's stream
 * answers it (the headers of an event stream, no body), so no handler code runs for a probe.
 */
export function answerHead(reply: FastifyReply): FastifyReply {
  (reply.sse as ReplySse).start();
  return reply;
}

/** Any Fastify request or reply, whatever the server (HTTP/1, HTTP/2, HTTPS). */
export type AnyRequest = FastifyRequest<RouteGenericInterface, RawServerBase>;
export type AnyReply = FastifyReply<RouteGenericInterface, RawServerBase>;

export interface ChannelRoute<Events extends EventMap> {
  sse: SseChannelRouteConfig<Events>;
  // Method syntax (bivariant) so the handler fits routes of any server type.
  handler(request: AnyRequest, reply: AnyReply): Promise<unknown>;
}

/**
 * Serves hub channels with no handler code: `app.get('/prices', channel('prices'))`, or
 * `app.get('/rooms/:id', { ...channel((req) => [`room:${req.params.id}`], { authorize }), onRequest: auth })`.
 * `options` add the subscription options and override the plugin's stream options for this
 * route. Validated here, when the route is declared, with the same checks as in
 * @ssekit/express: a bad option throws a TypeError naming it. A denied channel answers 403
 * through Fastify's error handler; a closed channel answers 204.
 */
export function channel<Events extends EventMap = RegisteredEvents>(
  channels: ChannelSource<NoInfer<Events>>,
  options: SseChannelOptions<Events> = {},
): ChannelRoute<Events> {
  const where =
    typeof channels === 'function' ? 'channel(fn)' : `channel(${JSON.stringify(channels)})`;
  checkChannelList(where, channels);
  checkChannelOptions(where, options);
  const config = { ...options, channels } as SseChannelRouteConfig<Events>;
  const { authorize, filter, gapReplay, onError, ...streamOptions } = options;
  const subscribeOptions: SseSubscribeOptions = {
    ...(authorize ? { authorize } : {}),
    ...(filter ? { filter } : {}),
    ...(gapReplay ? { gapReplay } : {}),
  };
  const route: RouteSettings | undefined =
    onError || Object.keys(streamOptions).length > 0 ? { streamOptions, onError } : undefined;
  const handler = async (anyRequest: AnyRequest, anyReply: AnyReply): Promise<unknown> => {
    const request = anyRequest as FastifyRequest;
    const reply = anyReply as unknown as FastifyReply;
    const where = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const state = pluginStateOf(reply, where);
    const names = (
      typeof channels === 'function' ? await channels(request) : channels
    ) as ChannelList;
    const sse = createReplySse(reply, state, route) as ReplySse;
    // Later reads of reply.sse (e.g. in onResponse) see this stream.
    (reply as FastifyReply & { [REPLY_SSE]?: ReplySse })[REPLY_SSE] = sse;
    // subscribe() answers refusals itself (403 through the error handler, 204) and never rejects.
    await sse.subscribe(names, subscribeOptions);
    return reply;
  };
  Object.defineProperty(handler, CHANNEL_HANDLER, { value: true });
  return { sse: config, handler };
}
