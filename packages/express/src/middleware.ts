/** `sse()`: the app- or route-level middleware, and `sse.channel()`: a channel with no handler code. */
import type { IncomingMessage } from 'node:http';
import type { Authorize, EventMap } from '@ssekit/core';
import { configure, install } from './sse-response.js';
import type {
  ChannelList,
  RegisteredEvents,
  SseChannelOptions,
  SseMiddleware,
  SseOptions,
  SseRequest,
} from './types.js';

/** Channels for a request: fixed, or computed from it (route params, the user). */
export type ChannelSource<Events extends EventMap, Req> =
  | ChannelList<Events>
  | ((req: Req) => ChannelList<Events> | Promise<ChannelList<Events>>);

/** Gives every response a lazy `res.sse`; nothing is written until it is used. */
function sseMiddleware<Events extends EventMap = RegisteredEvents>(
  options: SseOptions<Events> = {},
): SseMiddleware<IncomingMessage> {
  const config = configure(options as SseOptions<EventMap>);
  return (req, res, next) => {
    install(req, res, config, next);
    next();
  };
}

/**
 * Serves hub channels with no handler code: `app.get('/rooms/:id', sse.channel((req) => [...]))`.
 * A denied channel passes an error with status 403 to `next`; a closed channel answers 204.
 * Options not given here come from an `app.use(sse(...))` mounted earlier.
 */
function channel<
  Events extends EventMap = RegisteredEvents,
  Req extends IncomingMessage = SseRequest,
>(
  channels: ChannelSource<NoInfer<Events>, Req>,
  options: SseChannelOptions<Events> = {},
): SseMiddleware<Req> {
  const { filter, authorize, gapReplay, ...streamOptions } = options;
  const subscribeOptions = {
    ...(filter ? { filter } : {}),
    // Core calls it with the request this stream was made for: the Express request.
    ...(authorize ? { authorize: authorize as Authorize } : {}),
    ...(gapReplay ? { gapReplay } : {}),
  };
  const config = configure(streamOptions as SseOptions<EventMap>);
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

export const sse: typeof sseMiddleware & { channel: typeof channel } = Object.assign(
  sseMiddleware,
  {
    channel,
  },
);
