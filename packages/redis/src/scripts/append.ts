/**
 * Lua that appends a batch of events (what one process published in one tick), in order, each to
 * its own channel: the batch's seqs in one INCRBY, one XADD per event, and per channel one read
 * of its meta and one write and trim after its events. One vouch per batch.
 */
import { EPOCH_LUA } from './epoch.js';
import { HISTORY_LUA } from './history.js';

/**
 * The batch is one atomic step that does what the same appends would do one by one: each event
 * gets its own seq (in ARGV order, across channels), and its own outcome. An event to a closed
 * channel gets 'SSEKIT_CLOSED'; one whose commands fail (an error reply, e.g. WRONGTYPE or OOM)
 * gets the error's text and stores no entry (its seq is skipped); the others are stored.
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
-- ARGV[9 + C]   E, the number of epochs events were reserved in, then those E epochs
-- ARGV[10 + C + E] the events' header, one "c,b,e,s,r,d;" per event in publish order: channel
--                number c, body bytes b, event type bytes e (-1: no event type), the seq the
--                caller reserved s (0: none), the number of the epoch it was reserved in r (0:
--                none), and d '1' if the caller needs the event's outcome and previous seq
-- ARGV[11 + C + E] the events' event types and bodies, in that order, back to back (packed into
--                two arguments because a Redis client spends more per argument than per byte)
-- Returns { epoch, base of the known epoch, head (the seq before the batch's first), the
-- batch's last stored seq } when every event was stored and none asked for details (d '0').
-- Otherwise { epoch, base, head, then per event: its seq, or 'SSEKIT_CLOSED', or 'SSEKIT_FAILED
-- <error>'; then per event: the seq of its channel's previous entry (0 if none), or -1 when it
-- was not stored }. The previous seq lets the publishing process deliver its own event without
-- reading it back when it directly follows what that process delivered last on the channel.
${EPOCH_LUA}
${HISTORY_LUA}
local epoch, base = vouch()
local seen = tonumber(ARGV[4])
local max_events, max_bytes, max_age = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local channels = tonumber(ARGV[8])
local closed = redis.call('SMISMEMBER', KEYS[5], unpack(ARGV, 9, 8 + channels))

-- The events, unpacked: channel, body, event type, reserved seq, its epoch, details wanted.
local ev_c, ev_body, ev_type, ev_seq, ev_epoch, ev_detail = {}, {}, {}, {}, {}, {}
local n_epochs = tonumber(ARGV[9 + channels])
local data = ARGV[11 + channels + n_epochs]
local pos = 1
for c, b, e, s, r, d in string.gmatch(ARGV[10 + channels + n_epochs], '(%d+),(%d+),(%-?%d+),(%d+),(%d+),(%d);') do
  local n = #ev_c + 1
  e = tonumber(e)
  if e >= 0 then
    ev_type[n] = string.sub(data, pos, pos + e - 1)
    pos = pos + e
  end
  b = tonumber(b)
  ev_body[n] = string.sub(data, pos, pos + b - 1)
  pos = pos + b
  ev_c[n], ev_seq[n], ev_detail[n] = tonumber(c), tonumber(s), d == '1'
  r = tonumber(r)
  if r > 0 then ev_epoch[n] = ARGV[9 + channels + r] end
end
local now = now_ms()

-- Each channel's meta and length are read once, and written (and trimmed) once after its events
-- (history.ts). A channel whose meta or stream Redis refuses fails all its events of the batch.
local state = {}
local top, count = 0, 0
for c = 1, channels do
  if closed[c] ~= 1 then
    local ok, st = pcall(open_channel, KEYS[4 + 2 * c], KEYS[5 + 2 * c])
    if ok then
      if st.last > top then top = st.last end
    else
      if type(st) == 'table' then st = st.err end
      st = {err = 'SSEKIT_FAILED ' .. tostring(st)}
    end
    state[c] = st
  end
end
local stored = 0
for n = 1, #ev_c do
  if closed[ev_c[n]] ~= 1 then
    stored = stored + 1
    if ev_seq[n] == 0 then count = count + 1 end
  end
end

-- The batch's seqs, taken at once: one per event to an open channel, in ARGV order.
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
if stored > 0 then epoch, base = unless_rewound(epoch, base, seq, seen) end
if seq < top then
  -- The counter is behind a channel (restored or edited apart from it): move it past.
  seq = top
  redis.call('SET', KEYS[2], seq)
end
if count > 0 then redis.call('INCRBY', KEYS[2], count) end

-- Whether a seq reserved in epoch \`reserved\` names the same event in this history: the current
-- epoch, or an earlier one carried over whole up to at least that seq.
local function same_history(reserved, this)
  if reserved == epoch then return true end
  local kind, kept = parse_kept(redis.call('HGET', KEYS[4], reserved))
  return kind == 'w' and this <= kept
end

local out = {epoch, base, 0}
local prevs = {}
local first, last = nil, 0
-- Whether the short reply does: every event stored, none asking for details.
local short = true
-- Reserved seqs were taken before this batch: never above the counter as it was before it.
local counter = seq
for n = 1, #ev_c do
  local c = ev_c[n]
  local st = state[c]
  if ev_detail[n] then short = false end
  if closed[c] == 1 then
    out[#out + 1] = 'SSEKIT_CLOSED'
    prevs[#prevs + 1] = -1
    short = false
  else
    local ok, err = false, st.err
    local this = ev_seq[n]
    if this == 0 then
      seq = seq + 1
      this = seq
    elseif not err and (not same_history(ev_epoch[n], this) or this > counter or this <= st.last) then
      -- Reserved in a history that is gone, above a counter that went back, or no longer after
      -- the channel's last entry (another process wrote to the run: its lease lapsed, or the
      -- channel was closed): the event can't be stored under the id its producer gave it.
      err = 'SSEKIT_FAILED SSEKIT_STALE a reserved id is no longer valid'
    end
    if not err then
      local prev = st.last
      ok, err = pcall(add_entry, KEYS[4 + 2 * c], st, epoch, this, ev_body[n], ev_type[n], now)
      if ok then
        if first == nil then first = this end
        if this > last then last = this end
        out[#out + 1] = this
        prevs[#prevs + 1] = prev
      else
        if type(err) == 'table' then err = err.err end
        err = 'SSEKIT_FAILED ' .. tostring(err)
      end
    end
    if not ok then
      out[#out + 1] = err
      prevs[#prevs + 1] = -1
      short = false
    end
  end
end

for c = 1, channels do
  local st = state[c]
  if st and st.added then
    close_channel(KEYS[4 + 2 * c], KEYS[5 + 2 * c], st, epoch, now, max_events, max_bytes, max_age)
  end
end
out[1] = epoch
out[2] = base
if first then out[3] = first - 1 else out[3] = tonumber(redis.call('GET', KEYS[2]) or '0') end
if short then return {out[1], out[2], out[3], last} end
for _, prev in ipairs(prevs) do out[#out + 1] = prev end
return out
`;
