/**
 * Lua that appends a batch of events (what one process published in one tick), in order, each to
 * its own channel: per event, take the next seq, XADD, count its bytes, trim. One vouch per batch.
 */
import { EPOCH_LUA } from './epoch.js';
import { HISTORY_LUA } from './history.js';

/**
 * The batch is one atomic step that does what the same appends would do one by one: each event
 * gets its own seq (in ARGV order, across channels), and its own outcome. An event to a closed
 * channel gets 'SSEKIT_CLOSED'; one whose commands fail (an error reply, e.g. WRONGTYPE or OOM)
 * gets the error's text and stores no entry (at most a seq is skipped); the others are stored.
 */
export const APPEND = `
-- KEYS[1..4]     epoch, seq, origin, epochs (see EPOCH_LUA)
-- KEYS[5]        closed: the set of closed channels
-- KEYS[4 + 2c]   for each channel c = 1..C: its stream,
-- KEYS[5 + 2c]   and its meta hash (l last seq, d highest evicted seq, b frame bytes)
-- ARGV[1..3]     candidate epoch, durable, known epoch (see EPOCH_LUA)
-- ARGV[4]        the highest seq the caller has seen in the known epoch
-- ARGV[5]        max events
-- ARGV[6]        max bytes (0: no limit)
-- ARGV[7]        max age in ms (0: no limit)
-- ARGV[8]        C, the number of channels
-- ARGV[8 + c]    the name of channel c = 1..C
-- ARGV[9 + C ..] four per event, in publish order: channel number c, body (the encoded fields
--                without id), has event ('1' or '0'), event type ('' if none)
-- Returns { epoch, base of the known epoch, head (the seq before the batch's first), then per
-- event: its seq, or 'SSEKIT_CLOSED', or 'SSEKIT_FAILED <error>'; then per event: the seq of
-- its channel's previous entry (0 if none), or -1 when it was not stored }. The previous seq
-- lets the publishing process deliver its own event without reading it back when it directly
-- follows what that process delivered last on the channel.
${EPOCH_LUA}
${HISTORY_LUA}
local epoch, base = vouch()
local known, seen = ARGV[3], tonumber(ARGV[4])
local max_events, max_bytes, max_age = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local channels = tonumber(ARGV[8])
local closed = redis.call('SMISMEMBER', KEYS[5], unpack(ARGV, 9, 8 + channels))
local now = now_ms()
local checked, first = false, nil

local function append_one(c, body, has_event, event)
  local stream, meta_key = KEYS[4 + 2 * c], KEYS[5 + 2 * c]
  local seq = redis.call('INCR', KEYS[2])
  if not checked then
    checked = true
    if epoch == known and seq <= seen then
      -- The counter went back under a server that vouched for it (the data was edited or
      -- restored in place): ids already handed out would be issued again. Start a new history.
      epoch = switch_epoch(ARGV[1], redis.call('GET', KEYS[3]), false)
      base = -1
    end
  end
  local meta = redis.call('HMGET', meta_key, 'l', 'd', 'b')
  local prev = meta[1] or '0'
  if seq <= tonumber(prev) then
    -- The counter is behind this channel (restored or edited apart from it): move it past.
    redis.call('SET', KEYS[2], prev)
    seq = redis.call('INCR', KEYS[2])
  end
  local id = string.format('%d-0', seq)
  local len = redis.call('XLEN', stream)
  local bytes = tonumber(meta[3] or '0')
  if len == 0 then
    -- Whatever the channel held before aged out: it counts as evicted.
    local floor = meta[2] or '0'
    if tonumber(prev) > tonumber(floor) then floor = prev end
    redis.call('HSET', meta_key, 'd', floor)
    bytes = 0
  end
  if has_event == '1' then
    redis.call('XADD', stream, id, 'b', body, 't', now, 'p', prev, 'e', event)
  else
    redis.call('XADD', stream, id, 'b', body, 't', now, 'p', prev)
  end
  bytes = bytes + frame_bytes(epoch, seq_of(id), body)
  redis.call('HSET', meta_key, 'l', seq_of(id), 'b', bytes)
  -- An idle channel's history disappears on its own once all of it is too old.
  if max_age > 0 then redis.call('PEXPIRE', stream, max_age) end
  trim(stream, meta_key, epoch, now, max_events, max_bytes, max_age, len + 1, bytes)
  return seq, tonumber(prev)
end

local out = {epoch, base, 0}
local prevs = {}
for i = 9 + channels, #ARGV, 4 do
  local c = tonumber(ARGV[i])
  if closed[c] == 1 then
    out[#out + 1] = 'SSEKIT_CLOSED'
    prevs[#prevs + 1] = -1
  else
    local ok, result, prev = pcall(append_one, c, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    if ok then
      if first == nil then first = result end
      out[#out + 1] = result
      prevs[#prevs + 1] = prev
    else
      prevs[#prevs + 1] = -1
      if type(result) == 'table' then result = result.err end
      out[#out + 1] = 'SSEKIT_FAILED ' .. tostring(result)
    end
  end
end
out[1] = epoch
out[2] = base
if first then out[3] = first - 1 else out[3] = tonumber(redis.call('GET', KEYS[2]) or '0') end
for _, prev in ipairs(prevs) do out[#out + 1] = prev end
return out
`;
