/** `run(key)`: follows a resumable run with no handler code, e.g. `app.get('/chat/:key', run((req) => req.params.key))`. */
import type { IncomingMessage } from 'node:http';
import { SseRefusal } from '@ssekit/core';
import { checkRunRouteOptions, type RunRouteOptions } from '@ssekit/core/adapter';
import { configure, install } from './sse-response.js';
import type { SseMiddleware, SseRequest } from './types.js';

/** The run's key for a request: fixed, or computed from it (a route param). */
export type RunKeySource<Req> = string | ((req: Req) => string | Promise<string>);

/**
 * Serves a run's followers: replay from Last-Event-ID (or from the start), live, one terminal
 * event, end. An unknown key passes a 404 error to `next`; an ended run answers 204. The hub and
 * the stream options come from an `app.use(sse({ hub }))` mounted earlier.
 */
export function run<Req extends IncomingMessage = SseRequest>(
  key: RunKeySource<Req>,
  options: RunRouteOptions = {},
): SseMiddleware<Req> {
  checkRunRouteOptions('run()', key, options);
  const config = configure({});
  return (req, res, next) => {
    const state = install(req, res, config, next);
    const serve = async (): Promise<void> => {
      const name = typeof key === 'function' ? await key(req) : key;
      if (typeof name !== 'string' || name === '') {
        next(new SseRefusal(400, String(name), 'ssekit: a run key must be a non-empty string'));
        return;
      }
      // followRun() routes its own refusals (404 to next, 204 answered) and never rejects.
      await state.session().followRun(name, options);
    };
    serve().catch(next);
  };
}
