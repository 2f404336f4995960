/** `run(key)`: follows a resumable run with no handler code, e.g. `app.get('/chat/:key', run((request) => request.params.key))`. */
import { SseRefusal } from '@ssekit/core';
import { checkRunRouteOptions, type RunRouteOptions } from '@ssekit/core/adapter';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createReplySse, REPLY_SSE } from './reply-sse.js';
import { type AnyReply, type AnyRequest, pluginStateOf } from './route-option.js';
import type { ReplySse } from './types.js';

/** The run's key for a request: fixed, or computed from it (a route param). */
export type RunKeySource = string | ((request: FastifyRequest) => string | Promise<string>);

export interface RunRoute {
  sse: true;
  handler(request: AnyRequest, reply: AnyReply): Promise<unknown>;
}

/**
 * Serves a run's followers: replay from Last-Event-ID (or from the start), live, one terminal
 * event, end. An unknown key answers 404 through Fastify's error handler; an ended run 204.
 */
export function run(key: RunKeySource, options: RunRouteOptions = {}): RunRoute {
  checkRunRouteOptions('run()', key, options);
  const handler = async (anyRequest: AnyRequest, anyReply: AnyReply): Promise<unknown> => {
    const request = anyRequest as FastifyRequest;
    const reply = anyReply as unknown as FastifyReply;
    const state = pluginStateOf(
      reply,
      `${request.method} ${request.routeOptions.url ?? request.url}`,
    );
    const name = typeof key === 'function' ? await key(request) : key;
    if (typeof name !== 'string' || name === '')
      throw new SseRefusal(400, String(name), 'ssekit: a run key must be a non-empty string');
    const sse = createReplySse(reply, state, undefined) as ReplySse;
    (reply as FastifyReply & { [REPLY_SSE]?: ReplySse })[REPLY_SSE] = sse;
    // followRun() answers refusals itself (404 through the error handler, 204) and never rejects.
    await sse.followRun(name, options);
    return reply;
  };
  return { sse: true, handler };
}
