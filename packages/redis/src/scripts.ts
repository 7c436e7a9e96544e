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

/**
 * Presence (docs/redis.md "Presence across nodes"). Per channel (or pattern) followed with
 * presence, two keys with the same hash tag as the channel's:
 *   <prefix>{<channel>}:pm   hash   `<node> <member id>` → the member's info (JSON text, '' for none),
 *                                   `<node>` → how many members that node has there
 *   <prefix>{<channel>}:pn   zset   node → its lease: when it expires (Redis's clock, ms)
 * A node refreshes its leases every presenceTtl / 3 (a heartbeat). Any script that runs on
 * the channel first removes the nodes whose lease has expired (a node that died) and
 * announces, on the channel's pub/sub channel, that each now has nobody. Node ids are
 * base64url, so the first space of a field ends the node id.
 *
 * What goes through pub/sub, on the channel's own pub/sub channel (a publication starts
 * with a digit, these with `P`):
 *   P <channel> <node> d <[joins, leaves] as JSON>   a node's coalesced changes
 *   P <channel> <node> r <[members] as JSON>         a node's whole membership (none: it left or died)
 *   P <channel> <node> m <token>                     the marker of a read (PRESENCE_READ_LUA)
 */
const PRESENCE_SWEEP = `
local pm, pn = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
-- Removes every field of node n (its members and its count) and its lease.
local function forget(n)
  local prefix = n .. ' '
  local length = #prefix
  for _, f in ipairs(redis.call('HKEYS', pm)) do
    if string.sub(f, 1, length) == prefix then redis.call('HDEL', pm, f) end
  end
  redis.call('HDEL', pm, n)
  redis.call('ZREM', pn, n)
end
local function sweep(pubsub, channel, except)
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', pn, '-inf', now)) do
    if n ~= except then
      forget(n)
      redis.call('PUBLISH', pubsub, 'P ' .. channel .. ' ' .. n .. ' r []')
    end
  end
end
`;

/**
 * A node's presence on one channel: `r` replaces its whole membership (its first write, and
 * every write after one that failed or after its lease was lost), `d` applies its changes
 * (only while its lease is alive), `t` refreshes its lease (`ARGV[6]` '1') or only sweeps
 * (`'0'`: a node that follows the channel without members of its own). Returns 1, or 0
 * when the node's lease is gone (it was taken for dead, or Redis lost it): nothing was
 * changed and the node must write `r`.
 *
 * KEYS: pm, pn
 * ARGV: 1 node, 2 mode (r, d, t), 3 presence ttl (ms), 4 pub/sub channel, 5 channel name,
 *       6 the message's JSON (r, d) or the lease flag (t), 7 number of joins n,
 *       8 … 7 + 2n: member id, info pairs; then the ids that left (d)
 */
export const PRESENCE_LUA = `${PRESENCE_SWEEP}
local node, mode, ttl, pubsub, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
sweep(pubsub, channel, node)
local lease = redis.call('ZSCORE', pn, node)
local alive = lease and tonumber(lease) > now
if mode == 't' then
  if ARGV[6] ~= '1' then return 1 end
  if not alive then return 0 end
  redis.call('ZADD', pn, now + ttl, node)
else
  local joins = tonumber(ARGV[7])
  if mode == 'd' then
    if not alive then return 0 end
  elseif lease then
    forget(node)
  end
  local count = 0
  for i = 0, joins - 1 do
    count = count + redis.call('HSET', pm, node .. ' ' .. ARGV[8 + 2 * i], ARGV[9 + 2 * i])
  end
  for i = 8 + 2 * joins, #ARGV do
    count = count - redis.call('HDEL', pm, node .. ' ' .. ARGV[i])
  end
  local total = count
  if count ~= 0 or mode == 'd' then total = redis.call('HINCRBY', pm, node, count) end
  if total > 0 then
    redis.call('ZADD', pn, now + ttl, node)
  else
    redis.call('HDEL', pm, node)
    redis.call('ZREM', pn, node)
  end
  redis.call('PUBLISH', pubsub, 'P ' .. channel .. ' ' .. node .. ' ' .. mode .. ' ' .. ARGV[6])
end
if redis.call('ZCARD', pn) == 0 then
  redis.call('DEL', pm, pn)
else
  -- The keys outlive every lease: a channel whose nodes all died is gone ttl later.
  for _, k in ipairs({pm, pn}) do
    local left = redis.call('PTTL', k)
    if left < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
return 1
`;

/**
 * Every live node's members of a channel, and (with a token) a marker published on the
 * channel's pub/sub channel at the very point of the read: what the reading node receives
 * before its marker is in the answer, what it receives after is newer.
 *
 * KEYS: pm, pn
 * ARGV: 1 pub/sub channel, 2 channel name, 3 the reading node, 4 marker token ('' for none)
 * Returns the fields of pm, flat (field, value, field, value, …).
 */
export const PRESENCE_READ_LUA = `${PRESENCE_SWEEP}
sweep(ARGV[1], ARGV[2], '')
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[1], 'P ' .. ARGV[2] .. ' ' .. ARGV[3] .. ' m ' .. ARGV[4]) end
return redis.call('HGETALL', pm)
`;
