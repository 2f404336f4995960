/** Lua that closes a channel for every process. */
import { EPOCH_LUA } from './epoch.js';
import { HISTORY_LUA } from './history.js';

/**
 * Marks the channel closed and appends a marker entry (carrying the final frame), so every
 * process's reader delivers the channel's last events, the final one, and ends its local streams.
 * The history goes a little later (a reader that lags still gets to the end of it); nobody can
 * subscribe to it meanwhile.
 */
export const CLOSE = `
-- KEYS[1..4] epoch, seq, origin, epochs (see EPOCH_LUA)
-- KEYS[5]    closed: the set of closed channels
-- KEYS[6]    stream: the channel's stream
-- KEYS[7]    meta: the channel's meta hash
-- ARGV[1..3] candidate epoch, durable, known epoch (see EPOCH_LUA)
-- ARGV[4]    channel
-- ARGV[5]    ms to keep the stream
-- ARGV[6]    the closer's final frame ('' for none)
-- Returns { epoch, seq, base of the known epoch }.
${EPOCH_LUA}
${HISTORY_LUA}
local epoch, base = vouch()
redis.call('SADD', KEYS[5], ARGV[4])
local seq = redis.call('INCR', KEYS[2])
local last = redis.call('HGET', KEYS[7], 'l') or '0'
local id = string.format('%d-0', seq)
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[6], id, 't', now_ms(), 'p', last, 'x', '1', 'f', ARGV[6])
else
  redis.call('XADD', KEYS[6], id, 't', now_ms(), 'p', last, 'x', '1')
end
redis.call('HSET', KEYS[7], 'l', seq_of(id))
redis.call('PEXPIRE', KEYS[6], ARGV[5])
return {epoch, seq, base}
`;
