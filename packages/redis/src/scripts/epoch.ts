/**
 * Lua for the epoch: vouching that the server a script runs on still holds the history the epoch
 * names, and starting a new epoch when it can't (see "Epoch, and vouching for the history" in
 * docs/decisions.md). `EPOCH_LUA` is included by every script that vouches.
 */

/**
 * Helpers, not a script. They rely on the first keys and arguments of every script that includes
 * them:
 *   KEYS[1] epoch    the current epoch (a string)
 *   KEYS[2] seq      the hub-wide counter
 *   KEYS[3] origin   "<run_id>:<master_replid>|<durable>" of the server that vouches for the epoch
 *   KEYS[4] epochs   hash: earlier epoch -> "w:<base>" (carried over whole) or "l:<base>" (may have
 *                    lost its tail)
 *   ARGV[1] a candidate epoch (used if a new one starts)
 *   ARGV[2] what the caller knows of the server's durability: '1' AOF with appendfsync always,
 *           '0' not, '' unknown
 *   ARGV[3] the epoch the caller knows ('' if none)
 */
export const EPOCH_LUA = `
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

-- Before handing out seqs after \`counter\`: if the counter went back under a server that vouched
-- for the caller's epoch (\`seen\`, the highest seq the caller saw in it: the data was edited or
-- restored in place), ids already handed out would be issued again, so a new history starts.
-- Returns the epoch and base to use.
local function unless_rewound(epoch, base, counter, seen)
  if epoch == ARGV[3] and counter + 1 <= seen then
    return switch_epoch(ARGV[1], redis.call('GET', KEYS[3]), false), -1
  end
  return epoch, base
end

-- Returns the epoch this server vouches for (starting one if needed) and the base of the
-- caller's epoch in it (-1 if it is the current one, unknown, or not vouched for).
local function vouch()
  local info = redis.call('INFO', 'server', 'replication')
  -- Both are 40 hex digits; plain finds keep this cheap (it runs on every call).
  local r = string.find(info, 'run_id:', 1, true)
  local m = string.find(info, 'master_replid:', 1, true)
  local here = string.sub(info, r + 7, r + 46) .. ':' .. string.sub(info, m + 14, m + 53)
  local kept = redis.call('MGET', KEYS[1], KEYS[3])
  local epoch, origin = kept[1], kept[2]
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
`;

/** The reader runs it before each XREAD (in the same pipeline). */
export const VOUCH = `
-- KEYS[1..4] epoch, seq, origin, epochs
-- ARGV[1..3] candidate epoch, durable, known epoch
-- Returns { epoch, head seq, base of the known epoch }.
${EPOCH_LUA}
local epoch, base = vouch()
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0'), base}
`;

/**
 * A process found that the history it knew under an epoch lost something (it saw a seq above what
 * the server vouches for, or the counter went back): that epoch's ids become stale. If it is the
 * current epoch a new one starts; otherwise it is marked as having lost its tail in the epochs
 * hash, with every older one (their positions lead into the same lost stretch).
 */
export const RENOUNCE = `
-- KEYS[1..4] epoch, seq, origin, epochs
-- ARGV[1..2] candidate epoch, durable
-- ARGV[3]    the epoch that went bad (it also serves as the known epoch of vouch())
-- Returns { epoch, head seq }.
${EPOCH_LUA}
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
