/**
 * Lua for run state. One hash per run, `<prefix>run:<key>`: `s` status, `o` owner, `st` start id,
 * `en` end id, `lu` lease end (Redis ms), `sr` stop requested ('1'), `sa` seen at (Redis ms),
 * `lm` lease ms, `rm` retention ms, `ea` ended at (Redis ms). Times come from Redis's clock, so
 * processes with skewed clocks agree on leases.
 */
import { EPOCH_LUA } from '../scripts/epoch.js';
import { HISTORY_LUA } from '../scripts/history.js';
import { LuaScript } from '../scripts/lua-script.js';

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * While a run's owner renews its lease, its keys never expire; once it stops (a crash, a
 * `hub.close()`) and nobody follows to end it `interrupted`, they expire on their own: the
 * hash after four leases and two retentions, the run channel's stream and meta after four leases
 * and one retention. KEYS[1] run hash, KEYS[2] stream, KEYS[3] meta.
 */
const KEEP_WHILE_RENEWED = `
local function keep_while_renewed(hash, stream, meta, lease_ms)
  local retention = tonumber(redis.call('HGET', hash, 'rm') or '0')
  redis.call('PEXPIRE', hash, lease_ms * 4 + retention * 2)
  redis.call('PEXPIRE', stream, lease_ms * 4 + retention)
  redis.call('PEXPIRE', meta, lease_ms * 4 + retention)
end

-- Renews one run's lease if it is the owner's running run: its hash, or false.
local function renew(hash, stream, meta, owner, lease_ms)
  if redis.call('HGET', hash, 'o') ~= owner or redis.call('HGET', hash, 's') ~= 'running' then
    return false
  end
  redis.call('HSET', hash, 'lu', now + lease_ms)
  keep_while_renewed(hash, stream, meta, lease_ms)
  return redis.call('HGETALL', hash)
end
`;

/**
 * Claims a key and starts its run in one step, unless a run with it is running (live lease) or
 * still retained: then { 0 }. The run's first seqs are reserved (one INCRBY), so its events get
 * their ids where they are made (run-writer.ts); the first is the start marker's, appended here.
 * KEYS[1..4] epoch, seq, origin, epochs (see EPOCH_LUA); KEYS[5] run hash; KEYS[6] the run
 * channel's stream; KEYS[7] its meta; KEYS[8] the set of closed channels.
 * ARGV[1..3] candidate epoch, durable, known epoch (see EPOCH_LUA); ARGV[4] the highest seq the
 * caller saw in the known epoch; ARGV[5] owner; ARGV[6] lease ms; ARGV[7] retention ms;
 * ARGV[8] seqs to reserve; ARGV[9] the start marker's body; ARGV[10] its event type;
 * ARGV[11..13] max events, max bytes, max age ms (the channel limits); ARGV[14] the channel.
 * Returns { 1, epoch, base of the known epoch, first reserved seq (the start marker's), last
 * reserved seq, now, the run hash }; { 2 } when the channel is closed.
 */
export const CLAIM = new LuaScript(`${EPOCH_LUA}${HISTORY_LUA}${NOW}${KEEP_WHILE_RENEWED}
local epoch, base = vouch()
-- A closed channel takes no event, so no run either (until it is reopened).
if redis.call('SISMEMBER', KEYS[8], ARGV[14]) == 1 then return {2} end
local s = redis.call('HGET', KEYS[5], 's')
if s then
  local lu = tonumber(redis.call('HGET', KEYS[5], 'lu') or '0')
  -- ('claiming': left by an older version that claimed in two steps.)
  local reclaimable = s == 'interrupted' or ((s == 'running' or s == 'claiming') and lu <= now)
  if not reclaimable then return {0} end
end
local st = open_channel(KEYS[6], KEYS[7])
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
epoch, base = unless_rewound(epoch, base, seq, tonumber(ARGV[4]))
if seq < st.last then seq = st.last end
local first, last = seq + 1, seq + tonumber(ARGV[8])
redis.call('SET', KEYS[2], last)
add_entry(KEYS[6], st, epoch, first, ARGV[9], ARGV[10], now)
close_channel(KEYS[6], KEYS[7], st, epoch, now, tonumber(ARGV[11]), tonumber(ARGV[12]),
  tonumber(ARGV[13]))
local lease, retention = tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('DEL', KEYS[5])
redis.call('HSET', KEYS[5], 's', 'running', 'o', ARGV[5], 'lu', now + lease, 'sa', now,
  'lm', lease, 'rm', retention, 'sr', '0', 'st', epoch .. '-' .. first)
keep_while_renewed(KEYS[5], KEYS[6], KEYS[7], lease)
return {1, epoch, base, first, last, now, redis.call('HGETALL', KEYS[5])}
`);

/**
 * KEYS[1..4] epoch, seq, origin, epochs; ARGV[1..3] candidate epoch, durable, known epoch;
 * ARGV[4] the highest seq the caller saw in the known epoch; ARGV[5] how many seqs. Reserves the
 * next seqs of the counter for a run's producer; returns { epoch, base of the known epoch, first,
 * last }.
 */
export const RESERVE = new LuaScript(`${EPOCH_LUA}
local epoch, base = vouch()
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
epoch, base = unless_rewound(epoch, base, seq, tonumber(ARGV[4]))
local last = redis.call('INCRBY', KEYS[2], tonumber(ARGV[5]))
return {epoch, base, last - tonumber(ARGV[5]) + 1, last}
`);

/**
 * KEYS[1] run hash, KEYS[2] stream, KEYS[3] meta. ARGV[1] owner, ARGV[2] lease ms. Renews;
 * returns the hash, or nil if not the owner's running run.
 */
export const RENEW = new LuaScript(`${NOW}${KEEP_WHILE_RENEWED}
return renew(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))
`);

/**
 * Renews the leases of many runs of one owner in one step (a process renews all its runs each
 * tick: one round trip and one reply, not one per run). KEYS: per run its hash, stream and meta;
 * ARGV[1] owner, then per run its lease ms. Returns per run its hash, or false.
 */
export const RENEW_ALL = new LuaScript(`${NOW}${KEEP_WHILE_RENEWED}
local out = {}
for r = 1, #ARGV - 1 do
  out[r] = renew(KEYS[3 * r - 2], KEYS[3 * r - 1], KEYS[3 * r], ARGV[1], tonumber(ARGV[r + 1]))
end
return out
`);

/** KEYS[1] run hash. Marks a follower present. */
export const TOUCH = new LuaScript(`${NOW}
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'sa', now) end
return 1
`);

/** KEYS[1] run hash. Asks the owner to stop; 0 when not running. */
export const STOP = new LuaScript(`
if redis.call('HGET', KEYS[1], 's') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'sr', '1')
return 1
`);

/**
 * KEYS[1] run hash, KEYS[2] the run channel's stream, KEYS[3] its meta hash.
 * ARGV[1] owner ('' for the process that marked it interrupted), ARGV[2] status, ARGV[3] end id,
 * ARGV[4] retention ms. Records the end; the history expires after the retention, the record
 * after twice that. An owner ends only a run still running (one ended `interrupted` elsewhere
 * keeps that end); the interrupter only a run it marked interrupted and nobody ended yet.
 */
export const END = new LuaScript(`${NOW}
local s = redis.call('HGET', KEYS[1], 's')
if not s then return 0 end
if ARGV[1] ~= '' then
  if s ~= 'running' or redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
elseif s ~= 'interrupted' or redis.call('HEXISTS', KEYS[1], 'en') == 1 then
  return 0
end
local keep = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 's', ARGV[2], 'en', ARGV[3], 'ea', now, 'rm', keep)
redis.call('PEXPIRE', KEYS[1], keep * 2)
redis.call('PEXPIRE', KEYS[2], keep)
redis.call('PEXPIRE', KEYS[3], keep)
return 1
`);

/** KEYS[1] run hash. A running run past its lease becomes 'interrupted': 1 for the one caller that did it. */
export const INTERRUPT = new LuaScript(`${NOW}
if redis.call('HGET', KEYS[1], 's') ~= 'running' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'lu') or '0') > now then return 0 end
redis.call('HSET', KEYS[1], 's', 'interrupted')
return 1
`);

/** KEYS[1] run hash. Returns { now, the hash }. */
export const GET = new LuaScript(`${NOW}
return {now, redis.call('HGETALL', KEYS[1])}
`);
