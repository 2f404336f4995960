/** Lua that appends an event to a channel: take the next seq, XADD, count its bytes, trim. */
import { EPOCH_LUA } from './epoch.js';
import { HISTORY_LUA } from './history.js';

export const APPEND = `
-- KEYS[1..4] epoch, seq, origin, epochs (see EPOCH_LUA)
-- KEYS[5]    closed: the set of closed channels
-- KEYS[6]    stream: the channel's stream
-- KEYS[7]    meta: the channel's meta hash (l last seq, d highest evicted seq, b frame bytes)
-- ARGV[1..3] candidate epoch, durable, known epoch (see EPOCH_LUA)
-- ARGV[4]    the highest seq the caller has seen in the known epoch
-- ARGV[5]    channel
-- ARGV[6]    body (the encoded fields without id)
-- ARGV[7]    has event: '1' or '0'
-- ARGV[8]    event type ('' if none)
-- ARGV[9]    max events
-- ARGV[10]   max bytes (0: no limit)
-- ARGV[11]   max age in ms (0: no limit)
-- Returns { epoch, seq, base of the known epoch }, or the error 'SSEKIT_CLOSED' if the channel is
-- closed.
${EPOCH_LUA}
${HISTORY_LUA}
local epoch, base = vouch()
if redis.call('SISMEMBER', KEYS[5], ARGV[5]) == 1 then
  return redis.error_reply('SSEKIT_CLOSED channel is closed')
end
local seq = redis.call('INCR', KEYS[2])
if epoch == ARGV[3] and seq <= tonumber(ARGV[4]) then
  -- The counter went back under a server that vouched for it (the data was edited or restored
  -- in place): ids already handed out would be issued again. Start a new history instead.
  epoch = switch_epoch(ARGV[1], redis.call('GET', KEYS[3]), false)
  base = -1
end
local meta = redis.call('HMGET', KEYS[7], 'l', 'd')
local prev = meta[1] or '0'
if seq <= tonumber(prev) then
  -- The counter is behind this channel (restored or edited apart from it): move it past.
  redis.call('SET', KEYS[2], prev)
  seq = redis.call('INCR', KEYS[2])
end
local now = now_ms()
local id = string.format('%d-0', seq)
if redis.call('XLEN', KEYS[6]) == 0 then
  -- Whatever the channel held before aged out: it counts as evicted.
  local floor = meta[2] or '0'
  if tonumber(prev) > tonumber(floor) then floor = prev end
  redis.call('HSET', KEYS[7], 'd', floor, 'b', 0)
end
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[6], id, 'b', ARGV[6], 't', now, 'p', prev, 'e', ARGV[8])
else
  redis.call('XADD', KEYS[6], id, 'b', ARGV[6], 't', now, 'p', prev)
end
redis.call('HINCRBY', KEYS[7], 'b', frame_bytes(epoch, seq_of(id), ARGV[6]))
redis.call('HSET', KEYS[7], 'l', seq_of(id))
local max_age = tonumber(ARGV[11])
-- An idle channel's history disappears on its own once all of it is too old.
if max_age > 0 then redis.call('PEXPIRE', KEYS[6], max_age) end
trim(KEYS[6], KEYS[7], epoch, now, tonumber(ARGV[9]), tonumber(ARGV[10]), max_age)
return {epoch, seq, base}
`;
