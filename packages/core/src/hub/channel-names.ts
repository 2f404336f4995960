/** Checking channel names: a publisher's mistake is a TypeError, a request's is a 400 refusal. */
import { SseRefusal } from '../errors.js';
import { isRunChannel, runChannel } from '../store/run-channel.js';

export { isRunChannel, runChannel };

export function assertChannel(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '')
    throw new TypeError('ssekit: a channel name must be a non-empty string');
}

/**
 * The distinct channel names of a subscribe. They usually come from the request (a route param),
 * so anything but non-empty strings is the client's error: a 400 refusal, not a 500.
 */
export function channelNames(channels: unknown): string[] {
  const list = typeof channels === 'string' ? [channels] : channels;
  if (!Array.isArray(list) || list.length === 0)
    throw new SseRefusal(
      400,
      String(channels),
      'ssekit: subscribe() needs at least one channel name',
    );
  for (const name of list)
    if (typeof name !== 'string' || name === '')
      throw new SseRefusal(
        400,
        String(name),
        `ssekit: a channel name must be a non-empty string, got ${describeValue(name)}`,
      );
  const names = [...new Set(list as string[])];
  if (names.length > 1 && names.some(isRunChannel))
    throw new SseRefusal(
      400,
      names.find(isRunChannel)!,
      "ssekit: a run's channel can't be subscribed beside other channels; follow the run alone",
    );
  return names;
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}
