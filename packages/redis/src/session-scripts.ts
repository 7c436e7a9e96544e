/**
 * The Lua scripts of the session store (session-store.ts). Each runs atomically inside
 * Redis, so that a session's generation, positions and frames never disagree, whichever
 * node calls them. A session's keys share the hash tag `{<session id>}`: one Cluster slot.
 *
 * Per session:
 *   <prefix>session:{<sid>}     hash   g generation (raised by every claim), n owner node,
 *                                      c attaches (raised by every claim and every resume on
 *                                      the node that holds it), k SHA-256 of the resume token
 *                                      (hex), r route, p subprotocol, rx client envelopes
 *                                      stored up to, a server envelopes acknowledged up to,
 *                                      l last server envelope
 *   <prefix>session:{<sid>}:f   list   the encoded server envelopes a+1 … l, in order
 *   <prefix>session:{<sid>}:e   string why the session ended (expired, overflow, closed), for a while
 *
 * Fencing: only the node whose generation matches may write. A claim raises it, so a node
 * that lost its session learns so on its next write (`moved`) and can never overwrite what
 * the new owner stored.
 *
 * Attaches order the connections of a session: every connection that is given the session
 * (a claim on another node, or a resume on the node that holds it) raises `c` first, here,
 * atomically. A claim that must ask the owner to let go first reads `c` ("pins" it) without
 * changing anything, and then asks only while `c` is still what it pinned; the owner lets go
 * only for the attach it is on. So a claim that ran late (its node gave up waiting for Redis,
 * and the client has since resumed elsewhere) finds `c` raised and does nothing: it can never
 * take the session from a connection that attached after it.
 */

/**
 * Append a batch. Idempotent: a batch retried after a timeout skips the frames already
 * stored. Returns 'ok', 'moved' (another node owns the session, or it ended) or 'lost'
 * (Redis no longer has it: the caller restates everything with full = 1).
 *
 * KEYS: meta, frames, ended
 * ARGV: 1 generation, 2 ttl (ms), 3 rx, 4 acked, 5 first seq, 6 full ('1'/'0'), 7 owner node,
 *       8 token digest, 9 route, 10 subprotocol, 11 attaches, 12… frames
 */
export const SESSION_APPEND_LUA = `
local meta, framesKey, ended = KEYS[1], KEYS[2], KEYS[3]
local n = #ARGV - 11
local first, acked, rx = tonumber(ARGV[5]), tonumber(ARGV[4]), tonumber(ARGV[3])
local g = redis.call('HGET', meta, 'g')
local function push(from)
  for i = from, #ARGV, 1000 do
    redis.call('RPUSH', framesKey, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
if ARGV[6] == '1' then
  if (g and g ~= ARGV[1]) or ((not g) and redis.call('EXISTS', ended) == 1) then return 'moved' end
  redis.call('DEL', framesKey)
  redis.call('HSET', meta, 'g', ARGV[1], 'n', ARGV[7], 'k', ARGV[8], 'r', ARGV[9], 'p', ARGV[10],
    'c', ARGV[11], 'rx', rx, 'a', acked, 'l', first - 1 + n)
  push(12)
else
  if not g then
    if redis.call('EXISTS', ended) == 1 then return 'moved' end
    return 'lost'
  end
  if g ~= ARGV[1] then return 'moved' end
  local state = redis.call('HMGET', meta, 'a', 'l', 'rx')
  local a, l = tonumber(state[1]), tonumber(state[2])
  if first > l + 1 then return 'lost' end
  local skip = l + 1 - first
  if skip < n then
    push(12 + skip)
    l = first - 1 + n
  end
  if acked > a then
    redis.call('LTRIM', framesKey, acked - a, -1)
    a = acked
  end
  redis.call('HSET', meta, 'a', a, 'l', l, 'rx', math.max(rx, tonumber(state[3])))
end
redis.call('PEXPIRE', meta, ARGV[2])
redis.call('PEXPIRE', framesKey, ARGV[2])
return 'ok'
`;

/**
 * Claim a session for this node, or confirm it to the node that holds it. In order:
 * - no entry: {'reset', why} if it ended ('expired' or 'overflow' if remembered, else
 *   'unknown-session'); else {'lost'} for the holder (Redis lost it: the holder stores it
 *   again in full), {'missing'} for anyone else;
 * - the token digest, route and subprotocol must match ({'reset', …} / {'protocol', p});
 * - the holder (ARGV 11 = its generation, and it is still the owner): {'kept', c}, `c` raised;
 * - the client's rx must lie within what the session acknowledged and stored: below the
 *   acknowledged position {'rx-low'} (no correct client sends it), above the last server
 *   envelope {'rx-high'} (the store lacks what the client saw); nothing changes either way;
 * - owned by another node: without a pin, {'pin', c} and nothing changes; with a pin that
 *   `c` no longer matches, {'pin', c} again; while it matches, unless `force`, ask the owner
 *   to release attach c (`release <sid> <c>`) and answer {'wait'} if a subscriber heard;
 * - otherwise (no owner, a released one, nobody listening, or `force` after the wait) raise
 *   the generation and `c`, tell a previous owner it lost the session (`moved <sid>`), and
 *   return the state.
 * Comparing digests here leaks nothing useful through timing: they are hashes of 256-bit
 * random tokens.
 *
 * KEYS: meta, frames, ended
 * ARGV: 1 token digest, 2 route, 3 subprotocol, 4 this node, 5 ttl (ms), 6 node channel prefix,
 *       7 session id, 8 force ('1'/'0'), 9 client rx, 10 pinned attaches or '', 11 the
 *       holder's generation or ''
 * Returns {'reset', reason} | {'missing'} | {'protocol', p} | {'lost'} | {'kept', c} | {'rx-low'} | {'rx-high'}
 *       | {'pin', c} | {'wait'} | {'claimed', generation, rx, acked, c, {frames…}}
 */
export const SESSION_CLAIM_LUA = `
local meta, framesKey, ended = KEYS[1], KEYS[2], KEYS[3]
local m = redis.call('HMGET', meta, 'g', 'k', 'r', 'p', 'rx', 'a', 'n', 'l', 'c')
if not m[1] then
  local why = redis.call('GET', ended)
  if why == 'expired' or why == 'overflow' then return {'reset', why} end
  if why then return {'reset', 'unknown-session'} end
  if ARGV[11] ~= '' then return {'lost'} end
  return {'missing'}
end
if m[2] ~= ARGV[1] then return {'reset', 'bad-token'} end
if m[3] ~= ARGV[2] then return {'reset', 'unknown-session'} end
if m[4] ~= ARGV[3] then return {'protocol', m[4]} end
local c = tonumber(m[9] or '0')
if ARGV[11] == m[1] and m[7] == ARGV[4] then
  redis.call('HSET', meta, 'c', c + 1)
  redis.call('PEXPIRE', meta, ARGV[5])
  redis.call('PEXPIRE', framesKey, ARGV[5])
  return {'kept', c + 1}
end
local rx = tonumber(ARGV[9])
if rx < tonumber(m[6]) then return {'rx-low'} end
if rx > tonumber(m[8]) then return {'rx-high'} end
local owned = m[7] ~= '' and m[7] ~= ARGV[4]
if owned then
  if ARGV[10] == '' or tonumber(ARGV[10]) ~= c then return {'pin', c} end
  if ARGV[8] ~= '1' and redis.call('PUBLISH', ARGV[6] .. m[7], 'release ' .. ARGV[7] .. ' ' .. c) > 0 then
    return {'wait'}
  end
end
local g = tonumber(m[1]) + 1
redis.call('HSET', meta, 'g', g, 'n', ARGV[4], 'c', c + 1)
redis.call('PEXPIRE', meta, ARGV[5])
redis.call('PEXPIRE', framesKey, ARGV[5])
if owned then redis.call('PUBLISH', ARGV[6] .. m[7], 'moved ' .. ARGV[7]) end
return {'claimed', g, m[5], m[6], c + 1, redis.call('LRANGE', framesKey, 0, -1)}
`;

/**
 * Release a session this node owns, after storing everything it accepted: the next claim
 * takes it at once. With generation '' (a node that no longer holds the session in memory),
 * releases it if this node is still named its owner.
 *
 * KEYS: meta
 * ARGV: 1 generation or '', 2 this node
 */
export const SESSION_RELEASE_LUA = `
local m = redis.call('HMGET', KEYS[1], 'g', 'n')
if not m[1] or m[2] ~= ARGV[2] or (ARGV[1] ~= '' and m[1] ~= ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'n', '')
return 1
`;

/**
 * End a session this node owns: forget it and remember why for `remember` ms. A node whose
 * generation is stale changes nothing.
 *
 * KEYS: meta, frames, ended
 * ARGV: 1 generation, 2 why (expired, overflow, closed), 3 remember (ms)
 */
export const SESSION_END_LUA = `
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return 1
`;
