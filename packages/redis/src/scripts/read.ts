/** Lua that reads: where a new subscriber starts (POSITION), and a replay after an id (READ_AFTER). */
import { EPOCH_LUA } from './epoch.js';
import { HISTORY_LUA } from './history.js';

/** A reader positioned after the channel's last seq receives every entry appended from now on. */
export const POSITION = `
-- KEYS[1..4] epoch, seq, origin, epochs (see EPOCH_LUA)
-- KEYS[5]    closed: the set of closed channels
-- KEYS[6]    meta: the channel's meta hash
-- ARGV[1..3] candidate epoch, durable, known epoch (see EPOCH_LUA)
-- ARGV[4]    channel
-- Returns { epoch, head seq, channel's last seq, closed (1/0), base of the known epoch }.
${EPOCH_LUA}
local epoch, base = vouch()
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('HGET', KEYS[6], 'l') or '0'
return {epoch, head, last, redis.call('SISMEMBER', KEYS[5], ARGV[4]), base}
`;

export const READ_AFTER = `
-- KEYS[1..4]     epoch, seq, origin, epochs (see EPOCH_LUA)
-- KEYS[5], [6].. per channel: its stream, then its meta hash
-- ARGV[1..3]     candidate epoch, durable, known epoch (see EPOCH_LUA)
-- ARGV[4]        the id's epoch ('' if it is not a hub id)
-- ARGV[5]        the id's seq
-- ARGV[6]        max events
-- ARGV[7]        max bytes (0: no limit)
-- ARGV[8]        max age in ms (0: no limit)
-- ARGV[9]        fresh: '1' = no id, only the head is wanted (and a lone channel's last seq)
-- Returns { epoch, head, base of the known epoch, reason, then per channel: evicted floor, oldest
-- entry id, entries, last seq }.
${EPOCH_LUA}
${HISTORY_LUA}
local epoch, base = vouch()
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[9] == '1' then
  -- (A run's channel, followed alone: its last entry too, see replay.ts.)
  if #KEYS >= 6 then return {epoch, head, base, '', tonumber(redis.call('HGET', KEYS[6], 'l') or '0')} end
  return {epoch, head, base, ''}
end
local reason, after = '', 0
local seq = tonumber(ARGV[5])
if ARGV[4] == '' then reason = 'unknown'
elseif ARGV[4] ~= epoch then
  -- An earlier epoch's id is an exact position here only if that epoch was carried over whole.
  -- If it may have lost its tail, the client is told (stale), but the replay still starts where
  -- the client was (or where the old history ends): nothing it holds is sent again.
  local kind, kept = parse_kept(redis.call('HGET', KEYS[4], ARGV[4]))
  if kind == 'w' and seq <= kept then after = seq
  else
    reason = 'stale'
    if kind then after = math.min(seq, kept) end
  end
elseif seq > head then reason = 'unknown'
else after = seq end
local now = now_ms()
local out = {epoch, head, base, reason}
for i = 5, #KEYS, 2 do
  trim(KEYS[i], KEYS[i + 1], epoch, now, tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
  local meta = redis.call('HMGET', KEYS[i + 1], 'd', 'l')
  local floor = meta[1] or '0'
  if redis.call('XLEN', KEYS[i]) == 0 and tonumber(meta[2] or '0') > tonumber(floor) then floor = meta[2] end
  local first = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 1)[1]
  local start = '-'
  if after > 0 then start = '(' .. after .. '-0' end
  out[#out + 1] = floor
  out[#out + 1] = first and first[1] or ''
  out[#out + 1] = redis.call('XRANGE', KEYS[i], start, '+')
  out[#out + 1] = tonumber(meta[2] or '0')
end
return out
`;
