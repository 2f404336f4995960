/**
 * The store's Lua scripts. Each runs atomically in Redis, so "take the next id and append" and
 * "read the counter and everything after X" can't interleave with another process's publish.
 *
 * Stream entries (id `<seq>-0`) hold: `b` the encoded body (fields without id), `e` the event
 * type if any, `t` Redis time in ms, `p` the seq of the previous entry of the same channel (so a
 * reader can tell that entries were trimmed before it read them), and `x` on a close marker.
 * The channel's meta hash holds `l` (last seq), `d` (highest seq evicted) and `b` (frame bytes).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const HELPERS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ensure_epoch(key, candidate)
  local epoch = redis.call('GET', key)
  if epoch then return epoch end
  redis.call('SET', key, candidate)
  return candidate
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function seq_of(id)
  return string.sub(id, 1, #id - 2)
end

-- Bytes of the frame a process builds for the entry: "id: <epoch>-<seq>\\n<body>\\n".
local function frame_size(epoch, id, fields)
  local body = field(fields, 'b')
  if not body then return 0 end
  return #epoch + #id + #body + 5
end

-- Drops the oldest entries while the channel is over its count, byte or age limit, exactly
-- as the in-memory buffer does, and records the highest evicted seq.
local function trim(stream, meta, epoch, now, max_events, max_bytes, max_age)
  local len = redis.call('XLEN', stream)
  if len == 0 then return end
  local bytes = tonumber(redis.call('HGET', meta, 'b') or '0')
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
      dropped_bytes = dropped_bytes + frame_size(epoch, entry[1], entry[2])
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
`;

/**
 * KEYS: epoch, seq, closed, stream, meta.
 * ARGV: candidate epoch, channel, body, has event (1/0), event, max events, max bytes, max age,
 *       the epoch this process knows, the highest seq it has seen in it.
 * Returns { epoch, seq }.
 */
const APPEND = `${HELPERS}
local epoch = ensure_epoch(KEYS[1], ARGV[1])
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then
  return redis.error_reply('SSEKIT_CLOSED channel is closed')
end
local seq = redis.call('INCR', KEYS[2])
if epoch == ARGV[9] and seq <= tonumber(ARGV[10]) then
  -- The counter went back (Redis restarted from an older snapshot): ids already handed out would
  -- be issued again. Start a new history so they are recognised as stale.
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local meta = redis.call('HMGET', KEYS[5], 'l', 'd')
local prev = meta[1] or '0'
if seq <= tonumber(prev) then
  -- The counter is behind this channel (restored or edited apart from it): move it past.
  redis.call('SET', KEYS[2], prev)
  seq = redis.call('INCR', KEYS[2])
end
local now = now_ms()
local id = string.format('%d-0', seq)
if redis.call('XLEN', KEYS[4]) == 0 then
  -- Whatever the channel held before aged out: it counts as evicted.
  local floor = meta[2] or '0'
  if tonumber(prev) > tonumber(floor) then floor = prev end
  redis.call('HSET', KEYS[5], 'd', floor, 'b', 0)
end
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[4], id, 'b', ARGV[3], 't', now, 'p', prev, 'e', ARGV[5])
else
  redis.call('XADD', KEYS[4], id, 'b', ARGV[3], 't', now, 'p', prev)
end
redis.call('HINCRBY', KEYS[5], 'b', #epoch + #id + #ARGV[3] + 5)
redis.call('HSET', KEYS[5], 'l', seq_of(id))
local max_age = tonumber(ARGV[8])
-- An idle channel's history disappears on its own once all of it is too old.
if max_age > 0 then redis.call('PEXPIRE', KEYS[4], max_age) end
trim(KEYS[4], KEYS[5], epoch, now, tonumber(ARGV[6]), tonumber(ARGV[7]), max_age)
return {epoch, seq}
`;

/**
 * KEYS: epoch, seq, closed, meta. ARGV: candidate epoch, channel.
 * Returns { epoch, head seq, channel's last seq, closed (1/0) }: a reader positioned after the
 * channel's last seq receives every entry appended from now on.
 */
const POSITION = `${HELPERS}
local epoch = ensure_epoch(KEYS[1], ARGV[1])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('HGET', KEYS[4], 'l') or '0'
return {epoch, head, last, redis.call('SISMEMBER', KEYS[3], ARGV[2])}
`;

/**
 * KEYS: epoch, seq, then stream and meta of each channel.
 * ARGV: candidate epoch, the id's epoch ('' if it is not a hub id), the id's seq, max events,
 *       max bytes, max age, fresh (1 = no id: only the head is wanted).
 * Returns { epoch, head, reason, then per channel: evicted floor, oldest entry id, entries }.
 */
const READ_AFTER = `${HELPERS}
local epoch = ensure_epoch(KEYS[1], ARGV[1])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[7] == '1' then return {epoch, head, ''} end
local reason, after = '', 0
if ARGV[2] == '' then reason = 'unknown'
elseif ARGV[2] ~= epoch then reason = 'stale'
elseif tonumber(ARGV[3]) > head then reason = 'unknown'
else after = tonumber(ARGV[3]) end
local now = now_ms()
local out = {epoch, head, reason}
for i = 3, #KEYS, 2 do
  trim(KEYS[i], KEYS[i + 1], epoch, now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
  local meta = redis.call('HMGET', KEYS[i + 1], 'd', 'l')
  local floor = meta[1] or '0'
  if redis.call('XLEN', KEYS[i]) == 0 and tonumber(meta[2] or '0') > tonumber(floor) then floor = meta[2] end
  local first = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 1)[1]
  local start = '-'
  if after > 0 then start = '(' .. ARGV[3] .. '-0' end
  out[#out + 1] = floor
  out[#out + 1] = first and first[1] or ''
  out[#out + 1] = redis.call('XRANGE', KEYS[i], start, '+')
end
return out
`;

/**
 * KEYS: epoch, seq, closed, stream, meta. ARGV: candidate epoch, channel, ms to keep the stream,
 * the closer's final frame ('' for none).
 * Marks the channel closed and appends a marker entry (carrying the final frame), so every
 * process's reader delivers the channel's last events, the final one, and ends its local streams. The history goes a little later (a
 * reader that lags still gets to the end of it); nobody can subscribe to it meanwhile.
 * Returns { epoch, seq }.
 */
const CLOSE = `${HELPERS}
local epoch = ensure_epoch(KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
local seq = redis.call('INCR', KEYS[2])
local last = redis.call('HGET', KEYS[5], 'l') or '0'
local id = string.format('%d-0', seq)
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[4], id, 't', now_ms(), 'p', last, 'x', '1', 'f', ARGV[4])
else
  redis.call('XADD', KEYS[4], id, 't', now_ms(), 'p', last, 'x', '1')
end
redis.call('HSET', KEYS[5], 'l', seq_of(id))
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return {epoch, seq}
`;

/**
 * KEYS: epoch. ARGV: the epoch that went bad, a new one.
 * Replaces the epoch unless another process already did. Returns the current epoch.
 */
const RENEW_EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if epoch and epoch ~= ARGV[1] then return epoch end
redis.call('SET', KEYS[1], ARGV[2])
return ARGV[2]
`;

/** A script run by EVALSHA, falling back to EVAL once after Redis forgot it (e.g. a restart). */
export class LuaScript {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
  async run(
    conn: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await conn.call('EVALSHA', this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return conn.call('EVAL', this.lua, keys.length, ...keys, ...args);
    }
  }
}

export const scripts = {
  append: new LuaScript(APPEND),
  position: new LuaScript(POSITION),
  readAfter: new LuaScript(READ_AFTER),
  close: new LuaScript(CLOSE),
  renewEpoch: new LuaScript(RENEW_EPOCH),
};
