/**
 * Lua for run state. One hash per run, `<prefix>run:<key>`: `s` status, `o` owner, `st` start id,
 * `en` end id, `lu` lease end (Redis ms), `sr` stop requested ('1'), `sa` seen at (Redis ms),
 * `lm` lease ms, `rm` retention ms, `ea` ended at (Redis ms). Times come from Redis's clock, so
 * processes with skewed clocks agree on leases.
 */
import { LuaScript } from '../scripts/lua-script.js';

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS[1] run hash. ARGV[1] owner, ARGV[2] lease ms, ARGV[3] retention ms.
 * Claims the key unless a run with it is running (live lease) or still retained: then 0.
 * The claim is 'claiming' (invisible to followers) until START records the start marker's id.
 */
export const CLAIM = new LuaScript(`${NOW}
local s = redis.call('HGET', KEYS[1], 's')
if s then
  local lu = tonumber(redis.call('HGET', KEYS[1], 'lu') or '0')
  local reclaimable = s == 'interrupted' or ((s == 'running' or s == 'claiming') and lu <= now)
  if not reclaimable then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', 'claiming', 'o', ARGV[1], 'lu', now + tonumber(ARGV[2]),
  'sa', now, 'lm', ARGV[2], 'rm', ARGV[3], 'sr', '0')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4 + tonumber(ARGV[3]) * 2)
return 1
`);

/**
 * While a run's owner renews its lease, its keys never expire; once it stops (a crash, a
 * `hub.close()`) and nobody follows to end it `interrupted`, they expire on their own: the
 * hash after four leases and two retentions, the run channel's stream and meta after four leases
 * and one retention. KEYS[1] run hash, KEYS[2] stream, KEYS[3] meta.
 */
const KEEP_WHILE_RENEWED = `
local function keep_while_renewed(lease_ms)
  local retention = tonumber(redis.call('HGET', KEYS[1], 'rm') or '0')
  redis.call('PEXPIRE', KEYS[1], lease_ms * 4 + retention * 2)
  redis.call('PEXPIRE', KEYS[2], lease_ms * 4 + retention)
  redis.call('PEXPIRE', KEYS[3], lease_ms * 4 + retention)
end
`;

/**
 * KEYS[1] run hash, KEYS[2] the run channel's stream, KEYS[3] its meta. ARGV[1] owner, ARGV[2]
 * start id. Makes a claim visible as 'running'; returns { now, the hash } (as GET does), or 0
 * when the claim is no longer the owner's.
 */
export const START = new LuaScript(`${NOW}${KEEP_WHILE_RENEWED}
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
local lease = tonumber(redis.call('HGET', KEYS[1], 'lm'))
redis.call('HSET', KEYS[1], 's', 'running', 'st', ARGV[2], 'lu', now + lease)
keep_while_renewed(lease)
return {now, redis.call('HGETALL', KEYS[1])}
`);

/**
 * KEYS[1] run hash, KEYS[2] stream, KEYS[3] meta. ARGV[1] owner, ARGV[2] lease ms. Renews;
 * returns the hash, or nil if not the owner's running run.
 */
export const RENEW = new LuaScript(`${NOW}${KEEP_WHILE_RENEWED}
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] or redis.call('HGET', KEYS[1], 's') ~= 'running' then
  return nil
end
redis.call('HSET', KEYS[1], 'lu', now + tonumber(ARGV[2]))
keep_while_renewed(tonumber(ARGV[2]))
return redis.call('HGETALL', KEYS[1])
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
