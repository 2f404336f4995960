/**
 * `sse(options)`: the app- or route-level middleware (with `close()` for shutdown), and
 * `channel(channels, options)`: a channel with no handler code. The same names, option keys and
 * checks as @ssekit/fastify; every option is validated here, when the app is wired.
 */
import type { IncomingMessage } from 'node:http';
import { type Authorize, type EventMap, encodeEvent, type Hub } from '@ssekit/core';
import { checkAdapterOptions, checkChannelList, checkChannelOptions } from '@ssekit/core/adapter';
import { configure, install, OpenStreams } from './sse-response.js';
import type {
  ChannelList,
  ChannelSource,
  RegisteredEvents,
  SseAppMiddleware,
  SseChannelOptions,
  SseMiddleware,
  SseOptions,
  SseRequest,
} from './types.js';

/**
 * Gives every response a lazy `res.sse`; nothing is written until it is used. The returned
 * middleware's `close()` ends the streams it served (see `SseAppMiddleware`).
 */
function sseMiddleware<Events extends EventMap = RegisteredEvents>(
  options: SseOptions<Events> = {},
): SseAppMiddleware {
  checkAdapterOptions('sse()', options);
  const { finalEvent, serializer, drainMs, hub } = options;
  // Encoded now, so a bad final event fails here, not at shutdown.
  const open = new OpenStreams(finalEvent ? encodeEvent(finalEvent, serializer) : undefined);
  const config = configure(options as SseOptions<EventMap>, open);
  const middleware: SseMiddleware<IncomingMessage> = (req, res, next) => {
    install(req, res, config, next);
    next();
  };
  const drain = drainMs !== undefined && hub ? { hub, withinMs: drainMs } : undefined;
  return Object.assign(middleware, { close: () => open.close(drain) });
}

function describeChannels(channels: unknown): string {
  return typeof channels === 'function' ? 'channel(fn)' : `channel(${JSON.stringify(channels)})`;
}

function channelMiddleware<Events extends EventMap, Req extends IncomingMessage>(
  channels: ChannelSource<Events, Req>,
  options: SseChannelOptions<Events>,
  hub: Hub<EventMap> | undefined,
): SseMiddleware<Req> {
  const { filter, authorize, gapReplay, ...streamOptions } = options;
  const subscribeOptions = {
    ...(filter ? { filter } : {}),
    // Core calls it with the request this stream was made for: the Express request.
    ...(authorize ? { authorize: authorize as Authorize } : {}),
    ...(gapReplay ? { gapReplay } : {}),
  };
  const config = configure({ ...streamOptions, hub });
  return (req, res, next) => {
    const state = install(req, res, config, next);
    const serve = async (): Promise<void> => {
      let names: ChannelList<Events>;
      try {
        names = await (typeof channels === 'function' ? channels(req) : channels);
      } catch (error) {
        next(error);
        return;
      }
      // subscribe() routes its own errors (403 to next, 204 answered) and never rejects.
      await state.session().subscribe(names, subscribeOptions);
    };
    serve().catch(next);
  };
}

/**
 * Serves hub channels with no handler code: `app.get('/rooms/:id', channel((req) => [...]))`.
 * The hub and the defaults come from an `app.use(sse({ hub }))` mounted earlier; `options`
 * override the stream options for this route and add the subscription options. Validated here:
 * a bad option throws a TypeError naming it. A denied channel passes an error with status 403 to
 * `next`; a closed channel answers 204.
 */
export function channel<
  Events extends EventMap = RegisteredEvents,
  Req extends IncomingMessage = SseRequest,
>(
  channels: ChannelSource<NoInfer<Events>, Req>,
  options: SseChannelOptions<Events> = {},
): SseMiddleware<Req> {
  const where = describeChannels(channels);
  checkChannelList(where, channels);
  checkChannelOptions(where, options);
  return channelMiddleware(channels, options, undefined);
}

/**
 * The options of `sse.channel()`: those of `channel()`, plus a `hub` for this route.
 * @deprecated Use `channel(channels, options)` and name the hub in `sse({ hub })` mounted before it.
 */
export interface SseLegacyChannelOptions<Events extends EventMap = EventMap>
  extends SseChannelOptions<Events> {
  hub?: Hub<Events>;
}

/**
 * `sse.channel(channels, options)`: `channel()` that also takes a `hub`.
 * @deprecated Use `channel(channels, options)`; name the hub in `sse({ hub })`.
 */
function legacyChannel<
  Events extends EventMap = RegisteredEvents,
  Req extends IncomingMessage = SseRequest,
>(
  channels: ChannelSource<NoInfer<Events>, Req>,
  options: SseLegacyChannelOptions<Events> = {},
): SseMiddleware<Req> {
  const where = `sse.${describeChannels(channels)}`;
  checkChannelList(where, channels);
  const { hub, ...rest } = (options ?? {}) as SseLegacyChannelOptions<Events>;
  if (hub !== undefined) checkAdapterOptions(where, { hub });
  checkChannelOptions(where, rest);
  return channelMiddleware(channels, rest, hub as Hub<EventMap> | undefined);
}

/**
 * `app.use(sse({ hub }))`: the entry point, as `app.register(sse, { hub })` in @ssekit/fastify.
 * `sse.channel` is the former name of `channel` (deprecated, it also takes a `hub`).
 */
export const sse: typeof sseMiddleware & {
  /** @deprecated Use `channel()`; name the hub in `sse({ hub })`. */
  channel: typeof legacyChannel;
} = Object.assign(sseMiddleware, { channel: legacyChannel });
