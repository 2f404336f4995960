/**
 * The store's Lua scripts. Each runs atomically in Redis, so "take the next id and append" and
 * "read the counter and everything after X" can't interleave with another process's publish.
 * Each script's text starts with the KEYS and ARGV it takes.
 *
 * Stream entries (id `<seq>-0`) hold: `b` the encoded body (fields without id), `e` the event
 * type if any, `t` Redis time in ms, `p` the seq of the previous entry of the same channel (so a
 * reader can tell that entries were trimmed before it read them), and `x` on a close marker
 * (with `f`, the closer's final frame).
 * The channel's meta hash holds `l` (last seq), `d` (highest seq evicted) and `b` (frame bytes).
 */
import { APPEND } from './append.js';
import { CLOSE } from './close.js';
import { RENOUNCE, VOUCH } from './epoch.js';
import { LuaScript } from './lua-script.js';
import { POSITION, READ_AFTER } from './read.js';

export { LuaScript };

export const scripts = {
  append: new LuaScript(APPEND),
  position: new LuaScript(POSITION),
  readAfter: new LuaScript(READ_AFTER),
  close: new LuaScript(CLOSE),
  vouch: new LuaScript(VOUCH),
  renounce: new LuaScript(RENOUNCE),
};
