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

-- KEYS[1..4] of every script that reads or creates the epoch: epoch, seq, origin, epochs.
-- ARGV[1..3]: a candidate epoch, what the caller knows of the server's durability ('1': AOF with
-- appendfsync always, '0': not, '': unknown), the epoch the caller knows ('' if none).
--
-- The origin key holds "<run_id>:<master_replid>|<durable>" of the server that last vouched for
-- the history. A restart changes run_id, a failover changes master_replid: then this server can't
-- vouch that the counter is where the old one left it, and a new epoch starts (the counter goes
-- on, so no id is issued twice). The epochs hash keeps, for the last few earlier epochs, its
-- "base" (the counter when it ended: entries up to it are the same events in the new history)
-- and whether it was carried over whole ("w:<base>") or may have lost its tail ("l:<base>").
-- Whole only if the old server persisted every write before answering it, this one loaded that
-- file (a restart with AOF, not a promoted replica), and nothing since said otherwise.
local MAX_EPOCHS = 16

local function parse_kept(value)
  if not value then return nil, -1 end
  return string.sub(value, 1, 1), tonumber(string.sub(value, 3))
end

-- The base of the caller's epoch if it was carried over whole, else -1.
local function base_of(epoch, known)
  if known == '' or known == epoch then return -1 end
  local kind, base = parse_kept(redis.call('HGET', KEYS[4], known))
  if kind == 'w' then return base end
  return -1
end

local function switch_epoch(candidate, origin, lossless)
  local old = redis.call('GET', KEYS[1])
  if old then
    local base = tonumber(redis.call('GET', KEYS[2]) or '0')
    local all = redis.call('HGETALL', KEYS[4])
    -- Earlier epochs lead into this one: if it lost its tail, so did they.
    for i = 1, #all, 2 do
      local kind, b = parse_kept(all[i + 1])
      if b > base then b = base end
      if not lossless then kind = 'l' end
      redis.call('HSET', KEYS[4], all[i], kind .. ':' .. b)
    end
    redis.call('HSET', KEYS[4], old, (lossless and 'w:' or 'l:') .. base)
    local n = #all / 2 + 1
    while n > MAX_EPOCHS do
      local fields = redis.call('HGETALL', KEYS[4])
      local low, low_base = nil, nil
      for i = 1, #fields, 2 do
        local _, b = parse_kept(fields[i + 1])
        if fields[i] ~= old and (low_base == nil or b < low_base) then low, low_base = fields[i], b end
      end
      redis.call('HDEL', KEYS[4], low)
      n = n - 1
    end
  else
    redis.call('DEL', KEYS[4])
  end
  redis.call('SET', KEYS[1], candidate)
  redis.call('SET', KEYS[3], origin)
  return candidate
end

-- Returns the epoch this server vouches for (starting one if needed) and the base of the
-- caller's epoch in it (-1 if it is the current one, unknown, or not vouched for).
local function vouch()
  local info = redis.call('INFO', 'server', 'replication')
  -- Both are 40 hex digits; plain finds keep this cheap (it runs on every call).
  local r = string.find(info, 'run_id:', 1, true)
  local m = string.find(info, 'master_replid:', 1, true)
  local here = string.sub(info, r + 7, r + 46) .. ':' .. string.sub(info, m + 14, m + 53)
  local epoch = redis.call('GET', KEYS[1])
  local origin = redis.call('GET', KEYS[3])
  local durable = ARGV[2]
  if epoch and origin then
    local from, flag = string.sub(origin, 1, -3), string.sub(origin, -1)
    if from == here then
      if durable ~= '' and durable ~= flag then redis.call('SET', KEYS[3], here .. '|' .. durable) end
      return epoch, base_of(epoch, ARGV[3])
    end
    -- Another server process, or the same one after a failover. Lossless only if the old server
    -- fsynced every write, this one runs AOF with fsync always too (so it loaded the AOF), and
    -- this one is not a replica of the old one that was promoted (it may lag).
    local promoted = string.match(info, 'master_replid2:(%x+)') == string.match(from or '', ':(%x+)$')
    local lossless = flag == '1' and durable == '1' and not promoted
    epoch = switch_epoch(ARGV[1], here .. '|' .. (durable == '1' and '1' or '0'), lossless)
    return epoch, base_of(epoch, ARGV[3])
  end
  if epoch then
    -- Written by a version that kept no origin: adopt it.
    redis.call('SET', KEYS[3], here .. '|' .. (durable == '1' and '1' or '0'))
    return epoch, base_of(epoch, ARGV[3])
  end
  -- No epoch at all: the data is gone (FLUSHALL, a restart without data) or was never there.
  return switch_epoch(ARGV[1], here .. '|' .. (durable == '1' and '1' or '0'), false), -1
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
 * KEYS: epoch, seq, origin, epochs, closed, stream, meta.
 * ARGV: candidate epoch, durable, known epoch, the highest seq the caller has seen in it, channel,
 *       body, has event (1/0), event, max events, max bytes, max age.
 * Returns { epoch, seq, base of the known epoch }.
 */
const APPEND = `${HELPERS}
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
redis.call('HINCRBY', KEYS[7], 'b', #epoch + #id + #ARGV[6] + 5)
redis.call('HSET', KEYS[7], 'l', seq_of(id))
local max_age = tonumber(ARGV[11])
-- An idle channel's history disappears on its own once all of it is too old.
if max_age > 0 then redis.call('PEXPIRE', KEYS[6], max_age) end
trim(KEYS[6], KEYS[7], epoch, now, tonumber(ARGV[9]), tonumber(ARGV[10]), max_age)
return {epoch, seq, base}
`;

/**
 * KEYS: epoch, seq, origin, epochs, closed, meta. ARGV: candidate epoch, durable, known epoch,
 * channel.
 * Returns { epoch, head seq, channel's last seq, closed (1/0), base of the known epoch }: a reader
 * positioned after the channel's last seq receives every entry appended from now on.
 */
const POSITION = `${HELPERS}
local epoch, base = vouch()
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('HGET', KEYS[6], 'l') or '0'
return {epoch, head, last, redis.call('SISMEMBER', KEYS[5], ARGV[4]), base}
`;

/**
 * KEYS: epoch, seq, origin, epochs. ARGV: candidate epoch, durable, known epoch.
 * Returns { epoch, head seq, base of the known epoch }. The reader runs it before each XREAD.
 */
const VOUCH = `${HELPERS}
local epoch, base = vouch()
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0'), base}
`;

/**
 * KEYS: epoch, seq, origin, epochs. ARGV: candidate epoch, durable, the epoch that went bad.
 * A process found that the history it knew under that epoch lost something (it saw a seq above
 * what the server vouches for, or the counter went back): that epoch's ids become stale. If it is
 * the current epoch a new one starts; otherwise it is marked as having lost its tail in the epochs
 * hash, with every older one (their positions lead into the same lost stretch).
 * Returns { epoch, head seq }.
 */
const RENOUNCE = `${HELPERS}
local epoch = vouch()
if epoch == ARGV[3] then
  epoch = switch_epoch(ARGV[1], redis.call('GET', KEYS[3]), false)
else
  local _, bad = parse_kept(redis.call('HGET', KEYS[4], ARGV[3]))
  if bad >= 0 then
    local all = redis.call('HGETALL', KEYS[4])
    for i = 1, #all, 2 do
      local _, b = parse_kept(all[i + 1])
      if b <= bad then redis.call('HSET', KEYS[4], all[i], 'l:' .. b) end
    end
  end
end
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}
`;

/**
 * KEYS: epoch, seq, origin, epochs, then stream and meta of each channel.
 * ARGV: candidate epoch, durable, known epoch, the id's epoch ('' if it is not a hub id), the
 *       id's seq, max events, max bytes, max age, fresh (1 = no id: only the head is wanted).
 * Returns { epoch, head, base of the known epoch, reason, then per channel: evicted floor, oldest
 * entry id, entries }.
 */
const READ_AFTER = `${HELPERS}
local epoch, base = vouch()
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[9] == '1' then return {epoch, head, base, ''} end
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
end
return out
`;

/**
 * KEYS: epoch, seq, origin, epochs, closed, stream, meta. ARGV: candidate epoch, durable, known
 * epoch, channel, ms to keep the stream, the closer's final frame ('' for none).
 * Marks the channel closed and appends a marker entry (carrying the final frame), so every
 * process's reader delivers the channel's last events, the final one, and ends its local streams.
 * The history goes a little later (a reader that lags still gets to the end of it); nobody can
 * subscribe to it meanwhile.
 * Returns { epoch, seq, base of the known epoch }.
 */
const CLOSE = `${HELPERS}
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
  vouch: new LuaScript(VOUCH),
  renounce: new LuaScript(RENOUNCE),
};
