/**
 * The two Lua scripts. Each runs atomically inside Redis, so offsets, the stream and the
 * epoch can never disagree, whichever node calls them. Both keys of a channel carry the
 * hash tag `{channel}`, so on Redis Cluster they live in one slot, as a script needs.
 *
 * Per channel:
 *   <prefix>{<channel>}:m   hash   e = epoch, o = last offset
 *   <prefix>{<channel>}:s   stream entries `<offset>-0`, fields x (expiry, ms since epoch; 0 never) and m (the body, codec.ts)
 *
 * The epoch is created with the meta hash. A missing hash means Redis does not know the
 * channel: first use, expiry, eviction, or data lost (a restart without persistence, a
 * flush). Redis cannot tell these apart, so every one of them starts a NEW epoch (and drops
 * any stream left behind): a client holding an offset of the old epoch is then told
 * `reset: epoch` instead of being handed offsets that mean something else.
 */

/**
 * Publish: assign the next offset, keep the body in the stream (exact MAXLEN, so that the
 * stream's first entry says exactly how far history reaches), apply the TTLs, publish to
 * the channel's pub/sub channel and to its pattern's. Returns { offset, epoch }.
 *
 * KEYS: meta, stream
 * ARGV: 1 epoch to create if none, 2 history size, 3 history ttl (ms, 0 = none),
 *       4 meta ttl (ms, 0 = none), 5 pub/sub channel, 6 pattern pub/sub channel or '',
 *       7 body, 8 the epoch the caller knows ('' if none), 9 the highest offset it has seen in it
 */
export const PUBLISH_LUA = `
local meta, stream = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'o')
local e, o = fields[1], tonumber(fields[2])
-- A caller that has seen a higher offset in this epoch than Redis holds proves that Redis
-- lost acknowledged writes (a failover, a restore): offsets would be handed out twice.
-- A hash without an offset is not one this script wrote: start afresh too.
if e and (not o or (e == ARGV[8] and o < tonumber(ARGV[9]))) then e = false end
if not e then
  e = ARGV[1]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', e, 'o', 1)
  o = 1
else
  o = redis.call('HINCRBY', meta, 'o', 1)
end
local size, ttl, metaTtl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if size > 0 then
  local expiry = 0
  if ttl > 0 then
    local t = redis.call('TIME')
    expiry = t[1] * 1000 + math.floor(t[2] / 1000) + ttl
  end
  redis.call('XADD', stream, 'MAXLEN', size, string.format('%d-0', o), 'x', string.format('%d', expiry), 'm', ARGV[7])
  if ttl > 0 then redis.call('PEXPIRE', stream, ttl) else redis.call('PERSIST', stream) end
else
  redis.call('DEL', stream)
end
if metaTtl > 0 then redis.call('PEXPIRE', meta, metaTtl) else redis.call('PERSIST', meta) end
-- %d: Lua prints numbers above 10^14 in exponent form, which no offset may take.
local message = string.format('%d', o) .. ' ' .. e .. ' ' .. ARGV[7]
redis.call('PUBLISH', ARGV[5], message)
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], message) end
return {o, e}
`;

/**
 * Read: the channel's position, and what its stream holds after a given point. Used for
 * `position()` (nothing to read), `history()` (after `since` in the caller's epoch) and the
 * catch-up after the subscriber connection comes back (the whole stream when the epoch
 * changed meanwhile). Creates the epoch when Redis has none, so that a position handed to a
 * subscriber stays valid for the publications that follow. Returns
 * { offset, epoch, now (Redis's clock, ms), entries }.
 *
 * KEYS: meta, stream
 * ARGV: 1 epoch the caller holds ('' for none), 2 offset it holds, 3 epoch to create if none,
 *       4 meta ttl (ms, 0 = none), 5 '1': when the epoch differs, read the whole stream
 */
export const READ_LUA = `
local meta, stream = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'o')
local e, o = fields[1], tonumber(fields[2])
local metaTtl = tonumber(ARGV[4])
if not e or not o then
  e = ARGV[3]
  o = 0
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', e, 'o', 0)
  if metaTtl > 0 then redis.call('PEXPIRE', meta, metaTtl) end
elseif metaTtl > 0 then
  -- Someone is looking at the channel: keep its position at least as long as a quiet one's.
  local left = redis.call('PTTL', meta)
  if left >= 0 and left < metaTtl then redis.call('PEXPIRE', meta, metaTtl) end
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local entries = {}
local since = tonumber(ARGV[2])
if e == ARGV[1] then
  if since < o then entries = redis.call('XRANGE', stream, string.format('%d', since + 1) .. '-0', '+') end
elseif ARGV[5] == '1' and o > 0 then
  entries = redis.call('XRANGE', stream, '-', '+')
end
return {o, e, now, entries}
`;
