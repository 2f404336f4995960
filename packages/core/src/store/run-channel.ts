/**
 * Runs live on channels of their own, under a reserved prefix. A run's channel is followed alone
 * (never beside other channels in one subscription), so a store may keep its order per channel
 * only, and its producer may give its events their ids itself (see @ssekit/redis's run writer).
 */
const RUN_CHANNEL_PREFIX = 'ssekit:run:';

/** The channel a run's events go to. */
export function runChannel(key: string): string {
  return `${RUN_CHANNEL_PREFIX}${key}`;
}

/** Whether `name` is a run's channel. */
export function isRunChannel(name: string): boolean {
  return name.startsWith(RUN_CHANNEL_PREFIX);
}
