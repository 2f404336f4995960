/**
 * Option checks shared by the hub and both adapters: one place says what each option may be, so
 * a bad value fails where it is declared (createHub, app.use(sse()), register, channel()) with a
 * TypeError naming it, never later on a live stream.
 */
import { assertRetry, encodeEvent } from '../wire/encode.js';

type Check = (value: unknown) => string | undefined;

const positiveInt: Check = (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? undefined : 'a positive integer';
const nonNegativeInt: Check = (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : 'a non-negative integer';
const msOrFalse: Check = (v) =>
  v === false || positiveInt(v) === undefined ? undefined : 'a positive integer (ms) or false';
const fn: Check = (v) => (typeof v === 'function' ? undefined : 'a function');
const oneOf =
  (...allowed: string[]): Check =>
  (v) =>
    allowed.includes(v as string) ? undefined : allowed.map((a) => `"${a}"`).join(' or ');
const headers: Check = (v) =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((h) => typeof h === 'string')
    ? undefined
    : 'an object of string header values';
const retry: Check = (v) => {
  try {
    assertRetry(v);
    return undefined;
  } catch {
    return 'a non-negative integer (ms)';
  }
};
const eventInit: Check = (v) => {
  try {
    encodeEvent(v as Parameters<typeof encodeEvent>[0]);
    return undefined;
  } catch (error) {
    return `a valid event (${(error as Error).message})`;
  }
};

/** Options of one client stream (`SseStreamOptions`), as every adapter accepts them. */
export const STREAM_OPTION_CHECKS: Record<string, Check> = {
  heartbeat: msOrFalse,
  maxQueueBytes: positiveInt,
  overflow: oneOf('close', 'drop'),
  writeTimeout: msOrFalse,
  retry,
  unavailableRetry: nonNegativeInt,
  maxAge: positiveInt,
  rejoinRetry: nonNegativeInt,
  serializer: fn,
  headers,
  onError: fn,
};

/** Options of one subscription that a channel route may set. */
export const SUBSCRIBE_OPTION_CHECKS: Record<string, Check> = {
  filter: fn,
  authorize: fn,
  gapReplay: oneOf('available', 'none'),
};

/** Adapter-level options both adapters take besides the stream options. */
export const ADAPTER_OPTION_CHECKS: Record<string, Check> = {
  hub: (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { subscribe?: unknown }).subscribe === 'function'
      ? undefined
      : 'a hub from createHub()',
  finalEvent: eventInit,
  logger: (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { error?: unknown }).error === 'function' &&
    typeof (v as { warn?: unknown }).warn === 'function'
      ? undefined
      : 'an object with error() and warn() methods',
  drainMs: nonNegativeInt,
};

/**
 * Checks `options` against `checks`: every key must be known and every defined value valid.
 * Throws a TypeError that names `where`, the option and what it must be.
 */
export function checkOptions(
  where: string,
  options: unknown,
  ...checkSets: Array<Record<string, Check>>
): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`ssekit: ${where}: options must be an object`);
  for (const [key, value] of Object.entries(options)) {
    const check = checkSets.find((set) => Object.hasOwn(set, key))?.[key];
    if (!check) {
      const known = checkSets.flatMap((set) => Object.keys(set)).join(', ');
      throw new TypeError(`ssekit: ${where}: unknown option "${key}" (known: ${known})`);
    }
    if (value === undefined) continue;
    const expected = check(value);
    if (expected !== undefined)
      throw new TypeError(`ssekit: ${where}: option "${key}" must be ${expected}`);
  }
}

/** Checks the options of a channel route (`channel(channels, options)`) in either adapter. */
export function checkChannelOptions(where: string, options: unknown): void {
  checkOptions(where, options, SUBSCRIBE_OPTION_CHECKS, STREAM_OPTION_CHECKS);
}

/** Checks the options of `app.use(sse(options))` / `app.register(sse, options)`. */
export function checkAdapterOptions(where: string, options: unknown): void {
  checkOptions(where, options, ADAPTER_OPTION_CHECKS, STREAM_OPTION_CHECKS);
}

/**
 * Checks a channel list given at declaration: a function (checked per request by the hub), a
 * non-empty name, or a non-empty array of non-empty names.
 */
export function checkChannelList(where: string, channels: unknown): void {
  if (typeof channels === 'function') return;
  const names = typeof channels === 'string' ? [channels] : channels;
  if (
    !Array.isArray(names) ||
    names.length === 0 ||
    names.some((name) => typeof name !== 'string' || name === '')
  )
    throw new TypeError(
      `ssekit: ${where}: channels must be a non-empty name, a non-empty array of names, or (request) => names`,
    );
}

/** Options of a run route (`run(key, options)`) in either adapter. */
export interface RunRouteOptions {
  /** `'events'` (default): the terminal `done` / `error` / `stopped` event; `'openai'`: `data: [DONE]`. */
  terminator?: 'events' | 'openai';
}

/** Checks a run route's key source and options at declaration. */
export function checkRunRouteOptions(where: string, key: unknown, options: unknown): void {
  if (typeof key !== 'function' && (typeof key !== 'string' || key === ''))
    throw new TypeError(`ssekit: ${where}: the key must be a non-empty string or (request) => key`);
  checkOptions(where, options, { terminator: oneOf('events', 'openai') });
}
