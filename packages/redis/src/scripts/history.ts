/**
 * Lua helpers for a channel's stream and meta hash: Redis time, entry fields, and exact trimming
 * by count, bytes and age, the same rule as core's in-memory buffer. Included by the scripts that
 * append or replay.
 */
import { STORED_FRAME_OVERHEAD } from '@ssekit/core/store';

/** Helpers, not a script: they take their keys as arguments and read no KEYS or ARGV. */
export const HISTORY_LUA = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

-- '<seq>-0' -> '<seq>'
local function seq_of(id)
  return string.sub(id, 1, #id - 2)
end

-- Bytes of the frame a process builds for the entry, core's storedFrame("<epoch>-<seq>", body):
-- the id, the body and ${STORED_FRAME_OVERHEAD} bytes of "id: " and newlines (storedFrameBytes).
local function frame_bytes(epoch, seq_text, body)
  return #epoch + 1 + #seq_text + #body + ${STORED_FRAME_OVERHEAD}
end

-- The frame bytes of a stream entry (0 for a close marker, which has no body).
local function entry_bytes(epoch, id, fields)
  local body = field(fields, 'b')
  if not body then return 0 end
  return frame_bytes(epoch, seq_of(id), body)
end

-- Drops the oldest entries while the channel is over its count, byte or age limit, exactly
-- as the in-memory buffer does, and records the highest evicted seq. A caller that knows the
-- stream's length and the meta's byte total passes them (len, bytes); otherwise they are read.
local function trim(stream, meta, epoch, now, max_events, max_bytes, max_age, len, bytes)
  len = len or redis.call('XLEN', stream)
  if len == 0 then return end
  bytes = bytes or tonumber(redis.call('HGET', meta, 'b') or '0')
  if len <= max_events and (max_bytes <= 0 or bytes <= max_bytes) then
    if max_age <= 0 then return end
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    if now - tonumber(field(head[2], 't') or now) <= max_age then return end
  end
  local dropped, dropped_bytes, last = 0, 0, nil
  local start = '-'
  -- Usually one entry is over: read just it and the one that stays, then larger batches.
  local count = math.min(math.max(len - max_events, 1) + 1, 64)
  while true do
    local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', count)
    count = 64
    if #batch == 0 then break end
    local stop = false
    for _, entry in ipairs(batch) do
      local left = len - dropped
      local over = left > max_events
        or (max_bytes > 0 and left > 1 and bytes - dropped_bytes > max_bytes)
        or (max_age > 0 and now - tonumber(field(entry[2], 't') or now) > max_age)
      if not over then
        stop = true
        break
      end
      dropped = dropped + 1
      dropped_bytes = dropped_bytes + entry_bytes(epoch, entry[1], entry[2])
      last = entry[1]
    end
    if stop then break end
    start = '(' .. last
  end
  if dropped > 0 then
    redis.call('XTRIM', stream, 'MAXLEN', len - dropped)
    redis.call('HSET', meta, 'b', bytes - dropped_bytes, 'd', seq_of(last))
  end
end

-- A channel about to get events: its last seq, stream length and frame bytes, in a table that
-- the appends update and close_channel writes back. A channel whose history all aged out starts
-- again from nothing: what it held counts as evicted.
local function open_channel(stream, meta_key)
  local meta = redis.call('HMGET', meta_key, 'l', 'd', 'b')
  local len = redis.call('XLEN', stream)
  local last = tonumber(meta[1] or '0')
  local bytes = tonumber(meta[3] or '0')
  if len == 0 then
    local floor = tonumber(meta[2] or '0')
    if last > floor then floor = last end
    redis.call('HSET', meta_key, 'd', floor)
    bytes = 0
  end
  return {last = last, len = len, bytes = bytes, added = false}
end

-- One entry, with its seq chosen by the caller; the channel's state counts it.
local function add_entry(stream, st, epoch, seq, body, event, now)
  local id = string.format('%d-0', seq)
  if event then
    redis.call('XADD', stream, id, 'b', body, 't', now, 'p', st.last, 'e', event)
  else
    redis.call('XADD', stream, id, 'b', body, 't', now, 'p', st.last)
  end
  st.last = seq
  st.len = st.len + 1
  st.bytes = st.bytes + frame_bytes(epoch, string.format('%d', seq), body)
  st.added = true
end

-- Writes a channel's state back after its events, then trims it (once: the longest tail that
-- fits is the same as trimming after each event would leave).
local function close_channel(stream, meta_key, st, epoch, now, max_events, max_bytes, max_age)
  redis.call('HSET', meta_key, 'l', st.last, 'b', st.bytes)
  -- An idle channel's history disappears on its own once all of it is too old.
  if max_age > 0 then redis.call('PEXPIRE', stream, max_age) end
  trim(stream, meta_key, epoch, now, max_events, max_bytes, max_age, st.len, st.bytes)
end
`;
