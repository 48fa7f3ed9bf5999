import { script } from './redis.scripts.js';

/** Most entries one `indexAdd` drops or one command takes (unpack in Lua has a limit). */
const BATCH = 1000;

/**
 * @internal Adds a session to a user's index and drops the entries whose
 * deadline has passed (their sessions ended: the module adds an entry again
 * before its deadline while the session lives), in one atomic step, with the
 * `maxSessionsPerUser` rule when asked. The index is three keys in one slot:
 * a hash, storage key → "createdAt:seenAt:deadline" (ms since the epoch); a
 * sorted set of the same storage keys scored by deadline, so the ended
 * entries are found with one ZRANGEBYSCORE instead of reading the whole
 * hash: O(log n) plus what is dropped, at most BATCH per add (a larger
 * backlog goes over the next adds); and a hash of what the application's
 * `describe` recorded (JSON text, stored and returned as it is: never
 * decoded here). All live at least ARGV[4] ms, never shortened.
 *
 * The hash is the reference; the sorted set only finds candidates. Earlier
 * versions wrote "createdAt:deadline", or the hash alone (still the case for
 * instances not yet upgraded during a rolling deploy), so: the deadline is
 * always the last number of a value; a candidate whose hash value holds a
 * later deadline is moved to it rather than dropped; and a hash holding more
 * entries than the sorted set is read once, its ended entries dropped and
 * the others added to the sorted set. Entries with no deadline (a bare
 * createdAt, older still) are scored +inf: never dropped here, they are left
 * to `indexList`, which drops them once their session is gone.
 *
 * With a limit (ARGV[8] > 0), the entries the caller found ended (ARGV[11]
 * on) are dropped, then the owner's other entries are counted (all but
 * ARGV[1] and ARGV[10], the session being replaced): when one more would
 * exceed the limit, either nothing is added and `{0}` returned (ARGV[9]
 * 'reject'), or the least recently seen are dropped and returned after a 1,
 * for the caller to delete their records (on a Cluster those live in other
 * slots). Two logins of one user run one after the other here, so neither
 * can miss the other's entry.
 *
 * KEYS[1] the hash, KEYS[2] the sorted set, KEYS[3] the descriptions; ARGV:
 * storage key, createdAt, deadline, ttl in ms, now in ms, seenAt, the
 * description ('' keeps the one stored), the limit (0: none), 'reject' or
 * 'evict-oldest', the replaced storage key (or ''), then ended storage keys.
 */
export const INDEX_SCRIPT = script(`
local now = tonumber(ARGV[5])
local function deadline_of(value)
  return value and string.match(value, ':(%d+)$')
end
local function seen_of(value)
  local seen = string.match(value, '^%d+:(%d+):%d+$') or string.match(value, '^(%d+)')
  return tonumber(seen) or 0
end
-- Runs command on key with the names in list, at most ${BATCH} at a time.
local function each_batch(command, key, list)
  for i = 1, #list, ${BATCH} do
    redis.call(command, key, unpack(list, i, math.min(i + ${BATCH} - 1, #list)))
  end
end
local function forget(ids)
  if #ids == 0 then return end
  each_batch('HDEL', KEYS[1], ids)
  each_batch('ZREM', KEYS[2], ids)
  each_batch('HDEL', KEYS[3], ids)
end
if redis.call('HLEN', KEYS[1]) > redis.call('ZCARD', KEYS[2]) then
  local entries = redis.call('HGETALL', KEYS[1])
  local ended, scored = {}, {}
  for i = 1, #entries, 2 do
    local deadline = deadline_of(entries[i + 1])
    if deadline and tonumber(deadline) <= now then
      ended[#ended + 1] = entries[i]
    else
      scored[#scored + 1] = deadline or '+inf'
      scored[#scored + 1] = entries[i]
    end
  end
  each_batch('HDEL', KEYS[1], ended)
  each_batch('HDEL', KEYS[3], ended)
  each_batch('ZADD', KEYS[2], scored)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ${BATCH})
if #due > 0 then
  local values = redis.call('HMGET', KEYS[1], unpack(due))
  local ended, scored = {}, {}
  for i = 1, #due do
    local deadline = deadline_of(values[i])
    if values[i] and (not deadline or tonumber(deadline) > now) then
      scored[#scored + 1] = deadline or '+inf'
      scored[#scored + 1] = due[i]
    else
      ended[#ended + 1] = due[i]
    end
  end
  forget(ended)
  if #scored > 0 then redis.call('ZADD', KEYS[2], unpack(scored)) end
end
local result = { 1 }
local max = tonumber(ARGV[8])
if max > 0 then
  local gone = {}
  for i = 11, #ARGV do gone[#gone + 1] = ARGV[i] end
  forget(gone)
  local entries = redis.call('HGETALL', KEYS[1])
  local others = {}
  for i = 1, #entries, 2 do
    if entries[i] ~= ARGV[1] and entries[i] ~= ARGV[10] then
      others[#others + 1] = { entries[i], seen_of(entries[i + 1]) }
    end
  end
  local excess = #others + 1 - max
  if excess > 0 then
    if ARGV[9] == 'reject' then return { 0 } end
    table.sort(others, function(a, b)
      if a[2] ~= b[2] then return a[2] < b[2] end
      return a[1] < b[1]
    end)
    local evicted = {}
    for i = 1, excess do evicted[i] = others[i][1] end
    forget(evicted)
    for i = 1, #evicted do result[i + 1] = evicted[i] end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[6] .. ':' .. ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[7]) end
for i = 1, 3 do
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
end
return result
`);
