import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { messages } from '../session.messages.js';
import { loadIORedis } from './redis.loader.js';
import {
  applyDelta,
  SessionBackend,
  type IndexedSession,
  type SessionData,
  type SessionDelta,
} from './session-backend.js';

// Loaded when this entry is imported: a missing ioredis fails here, with a
// message that says `npm i ioredis`, rather than at the first request.
const ioredis = loadIORedis();

/** Options of {@link RedisBackend}. Pass `client`, or connection settings, not both. */
export interface RedisBackendOptions {
  /** Default `'127.0.0.1'`. Ignored with `url` or `client`. */
  host?: string;
  /** Default `6379`. Ignored with `url` or `client`. */
  port?: number;
  /** Database index. Default `0`. Ignored with `client`. */
  db?: number;
  /** Ignored with `client`. */
  password?: string;
  /** A `redis://` or `rediss://` URL; wins over `host` and `port`. Ignored with `client`. */
  url?: string;
  /**
   * An existing ioredis `Redis` or `Cluster`. The backend uses it as
   * configured and leaves it open on `close()`: its owner closes it.
   */
  client?: Redis | Cluster;
  /** Prefix of every key this backend writes, and all that `clear()` removes. Default `'session:'`. */
  prefix?: string;
  /**
   * Longest wait for any Redis command, in milliseconds, including waiting for
   * the connection to come back. Default 1500. Ignored with `client`.
   */
  commandTimeout?: number;
  /** Further ioredis options (TLS, username...) for the connection the backend opens. */
  redisOptions?: RedisOptions;
}

/** The ioredis calls this backend makes; both `Redis` and `Cluster` have them. */
type Commands = Pick<
  Redis,
  | 'get'
  | 'getex'
  | 'getdel'
  | 'set'
  | 'expire'
  | 'pexpire'
  | 'del'
  | 'evalsha'
  | 'eval'
  | 'multi'
  | 'scan'
  | 'unlink'
  | 'hdel'
  | 'hgetall'
  | 'pttl'
  | 'pipeline'
>;

const DEFAULT_PREFIX = 'session:';
const DEFAULT_COMMAND_TIMEOUT = 1500;
const SCAN_COUNT = 500;

/**
 * Applies a delta to one record atomically, without decoding any session
 * value. The record is one JSON object whose fields hold the JSON text of each
 * session key's value (see `encode`); the script splits it into raw key and
 * value string tokens (finding where each JSON string ends, nothing more:
 * escape pairs are blanked out with one gsub, then each quote left is a
 * token boundary),
 * replaces, appends or drops tokens by key, and joins them back byte for
 * byte. cjson is never used: it rejects strings holding lone UTF-16 surrogates
 * and values nested deeper than 1000, would turn `[]` into `{}` and round
 * large integers.
 *
 * Returns 1 when applied, 0 when the record is missing (nothing is created, so
 * a destroyed session is never brought back), and -1 when the key holds
 * something unreadable (another type, or a string not in this format), which
 * the script removes. Each value is checked by its outer shape (first and last
 * character), not parsed; a value broken inside is caught by the next read.
 *
 * Names written by the cjson-based script of earlier versions may carry a
 * `\/` or `\u007f` escape; they are read as the plain `/` or DEL byte that
 * `JSON.stringify` writes.
 *
 * KEYS[1] the record; ARGV: 'EX' | 'PX', ttl, number of fields to set, then
 * that many key/value token pairs (`JSON.stringify(name)`,
 * `JSON.stringify(JSON.stringify(value))`), then the key tokens to remove
 * (removed first, as in MemoryBackend, so a name in both is set). With a
 * KEYS[2] (`move`, single node: both keys in one slot), the result is
 * stored there and KEYS[1] removed, in the same atomic step.
 */
const PATCH_SCRIPT = `
local raw = redis.pcall('GET', KEYS[1])
if not raw then return 0 end
local QUOTE, BACKSLASH = 34, 92
local SPACE_ESCAPES = { [116] = true, [110] = true, [114] = true }
local byte, find, sub, gsub = string.byte, string.find, string.sub, string.gsub
-- Escape pairs left to right (with up to four hex digits after them), so an
-- escaped backslash is never read as the start of another escape.
local ESCAPE = string.char(BACKSLASH) .. '(.)(%x?%x?%x?%x?)'
local function unescape_legacy(c, hex)
  if c == '/' then return '/' .. hex end
  if c == 'u' and string.lower(hex) == '007f' then return string.char(127) end
  return string.char(BACKSLASH) .. c .. hex
end
if type(raw) ~= 'string' then
  redis.call('UNLINK', KEYS[1])
  return -1
end
local n = #raw

-- The same text with every escape pair (a backslash and the byte after it)
-- blanked out, in one pass in C: each '"' left in it opens or closes a string.
local bare = string.gsub(raw, string.char(BACKSLASH) .. '.', '__')

-- Index just past the JSON string token that opens at i, or nil.
local function past_string(i)
  local q = find(bare, '"', i + 1, true)
  return q and q + 1
end

-- Whether the value token a..b (quotes included) can hold JSON text, judged by
-- its first and last characters past JSON whitespace (a space, or an escaped
-- tab, newline or carriage return).
local function plausible(a, b)
  local p, q = a + 1, b - 1
  while p <= q do
    local c = byte(raw, p)
    if c == 32 then p = p + 1
    elseif c == BACKSLASH and SPACE_ESCAPES[byte(raw, p + 1)] then p = p + 2
    else break end
  end
  while p <= q do
    local c = byte(raw, q)
    if c == 32 then q = q - 1
    elseif SPACE_ESCAPES[c] and byte(raw, q - 1) == BACKSLASH then q = q - 2
    else break end
  end
  if p > q then return false end
  local first, last = byte(raw, p), byte(raw, q)
  if first == 123 then return last == 125 end
  if first == 91 then return last == 93 end
  if first == BACKSLASH then
    return q - p >= 3 and byte(raw, p + 1) == QUOTE and last == QUOTE and byte(raw, q - 1) == BACKSLASH
  end
  if first == 45 or (first >= 48 and first <= 57) then return last >= 48 and last <= 57 end
  local word = sub(raw, p, q)
  return word == 'true' or word == 'false' or word == 'null'
end

local function skip(p)
  return find(raw, '%S', p) or n + 1
end

-- names[i] / values[i]: raw tokens in stored order; at[name] = i (the last
-- occurrence of a repeated name wins, as in JSON.parse).
local names, values, at = {}, {}, {}
local function parse()
  local p = skip(1)
  if byte(raw, p) ~= 123 then return false end
  p = skip(p + 1)
  if byte(raw, p) == 125 then return skip(p + 1) > n end
  while true do
    if byte(raw, p) ~= QUOTE then return false end
    local e = past_string(p)
    if not e then return false end
    local name = sub(raw, p, e - 1)
    if find(name, '/', 1, true) or find(name, '007', 1, true) then
      name = gsub(name, ESCAPE, unescape_legacy)
    end
    p = skip(e)
    if byte(raw, p) ~= 58 then return false end
    p = skip(p + 1)
    if byte(raw, p) ~= QUOTE then return false end
    e = past_string(p)
    if not e or not plausible(p, e - 1) then return false end
    local value = sub(raw, p, e - 1)
    if at[name] then
      values[at[name]] = value
    else
      names[#names + 1] = name
      values[#names] = value
      at[name] = #names
    end
    p = skip(e)
    local c = byte(raw, p)
    if c == 125 then return skip(p + 1) > n end
    if c ~= 44 then return false end
    p = skip(p + 1)
  end
end

if not parse() then
  redis.call('UNLINK', KEYS[1])
  return -1
end

local first_unset = 4 + 2 * tonumber(ARGV[3])
for i = first_unset, #ARGV do
  local k = at[ARGV[i]]
  if k then
    values[k] = false
    at[ARGV[i]] = nil
  end
end
for i = 4, first_unset - 1, 2 do
  local k = at[ARGV[i]]
  if k then
    values[k] = ARGV[i + 1]
  else
    names[#names + 1] = ARGV[i]
    values[#names] = ARGV[i + 1]
    at[ARGV[i]] = #names
  end
end

local parts = { '{' }
for i = 1, #names do
  if values[i] then
    if #parts > 1 then parts[#parts + 1] = ',' end
    parts[#parts + 1] = names[i]
    parts[#parts + 1] = ':'
    parts[#parts + 1] = values[i]
  end
end
parts[#parts + 1] = '}'
local target = KEYS[2] or KEYS[1]
redis.call('SET', target, table.concat(parts), ARGV[1], ARGV[2])
if target ~= KEYS[1] then redis.call('UNLINK', KEYS[1]) end
return 1
`;
const PATCH_SHA = sha1(PATCH_SCRIPT);

/** What PATCH_SCRIPT returns for a key holding something unreadable (which it removed). */
const PATCH_UNREADABLE = -1;

/** Most ended entries one `indexAdd` drops (unpack in Lua has a limit; this keeps each add short). */
const PRUNE_BATCH = 1000;

/**
 * Adds a session to a user's index and drops the entries whose deadline has
 * passed (their sessions ended: the module adds an entry again before its
 * deadline while the session lives), in one atomic step. The index is two
 * keys in one slot: a hash, storage key → "createdAt:deadline" (ms since the
 * epoch), and a sorted set of the same storage keys scored by deadline, so
 * the ended entries are found with one ZRANGEBYSCORE instead of reading the
 * whole hash: O(log n) plus what is dropped, at most PRUNE_BATCH per add (a
 * larger backlog goes over the next adds). Both keys live at least ARGV[4]
 * ms, never shortened.
 *
 * The hash is the reference; the sorted set only finds candidates. Earlier
 * versions wrote the hash alone (still the case for instances not yet
 * upgraded during a rolling deploy), so: a candidate whose hash value holds a
 * later deadline is moved to it rather than dropped, and a hash holding more
 * entries than the sorted set is read once, its ended entries dropped and the
 * others added to the sorted set. Entries with no deadline (a bare createdAt,
 * older still) are scored +inf: never dropped here, they are left to
 * `indexList`, which drops them once their session is gone.
 * KEYS[1] the hash, KEYS[2] the sorted set; ARGV: storage key, createdAt,
 * deadline, ttl in ms, now in ms.
 */
const INDEX_SCRIPT = `
local now = tonumber(ARGV[5])
local function deadline_of(value)
  return value and string.match(value, ':(%d+)$')
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
    if #ended == ${PRUNE_BATCH} then
      redis.call('HDEL', KEYS[1], unpack(ended))
      ended = {}
    end
    if #scored == ${2 * PRUNE_BATCH} then
      redis.call('ZADD', KEYS[2], unpack(scored))
      scored = {}
    end
  end
  if #ended > 0 then redis.call('HDEL', KEYS[1], unpack(ended)) end
  if #scored > 0 then redis.call('ZADD', KEYS[2], unpack(scored)) end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ${PRUNE_BATCH})
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
  if #ended > 0 then
    redis.call('HDEL', KEYS[1], unpack(ended))
    redis.call('ZREM', KEYS[2], unpack(ended))
  end
  if #scored > 0 then redis.call('ZADD', KEYS[2], unpack(scored)) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
end
return 1
`;
const INDEX_SHA = sha1(INDEX_SCRIPT);

/**
 * Sessions in Redis through ioredis, shared by every instance of the
 * application. Each session is one Redis string at `prefix + storageKey` with
 * its TTL kept by Redis, so a read, a write or a touch is one round trip, and
 * changes made by overlapping requests are merged atomically by a Lua script
 * (`patch`). Works with a single node and with Redis Cluster (pass a `Cluster`
 * as `client`; keys then carry a `{hash tag}`).
 *
 * When Redis is down, calls reject within `commandTimeout` (the module answers
 * 503) and the backend recovers by itself once Redis is back. A connection the
 * backend opened is closed on application shutdown; a `client` passed in is
 * left open. A record the backend cannot decode is logged (without its
 * content) and removed, and reads as missing. Importing this entry requires
 * `ioredis` (`npm i ioredis`).
 *
 * @example
 * import { RedisBackend } from 'pselfastapise-async/backends/redis';
 * SessionModule.forRoot({ secretKey, backend: new RedisBackend({ url: process.env.REDIS_URL }) })
 */
export class RedisBackend extends SessionBackend {
  private readonly logger = new Logger(RedisBackend.name);
  private readonly client: Redis | Cluster;
  private readonly prefix: string;
  private readonly cluster: boolean;
  private readonly owned: boolean;
  private readonly commandTimeout: number;
  private readonly waiters = new Set<() => void>();
  private lastError: Error | undefined;
  private closed = false;

  constructor(options: RedisBackendOptions = {}) {
    super();
    const { prefix = DEFAULT_PREFIX, commandTimeout = DEFAULT_COMMAND_TIMEOUT } = options;
    if (typeof prefix !== 'string' || prefix === '') {
      throw new TypeError(messages.redisOption('prefix', 'a non-empty string', prefix));
    }
    if (!Number.isFinite(commandTimeout) || commandTimeout <= 0) {
      throw new RangeError(
        messages.redisOption('commandTimeout', 'a positive number of ms', commandTimeout),
      );
    }
    this.prefix = prefix;
    this.commandTimeout = commandTimeout;
    if (options.client) {
      this.client = options.client;
      this.owned = false;
    } else {
      this.client = this.connect(options);
      this.owned = true;
    }
    this.cluster = (this.client as { isCluster?: boolean }).isCluster === true;
    // Redis hashes a whole key whose first "{" is closed at once ("{}"):
    // the two keys of a user index would then land in different slots.
    if (this.cluster && /^[^{]*\{\}/.test(prefix)) {
      throw new TypeError(
        messages.redisOption(
          'prefix',
          'a prefix without an empty hash tag "{}" on a Cluster',
          prefix,
        ),
      );
    }
  }

  /** The record, or null; an unreadable one is logged, removed and read as null. */
  async read(id: string): Promise<SessionData | null> {
    return this.load(id, (redis, key) => redis.get(key));
  }

  override async readAndTouch(id: string, ttlSeconds: number): Promise<SessionData | null> {
    const [unit, amount] = expiry(ttlSeconds);
    return this.load(id, (redis, key) =>
      unit === 'EX' ? redis.getex(key, 'EX', amount) : redis.getex(key, 'PX', amount),
    );
  }

  async write(id: string, data: SessionData, ttlSeconds: number): Promise<void> {
    const [unit, amount] = expiry(ttlSeconds);
    const key = this.key(id);
    const value = encode(data);
    await this.run((redis) =>
      unit === 'EX' ? redis.set(key, value, 'EX', amount) : redis.set(key, value, 'PX', amount),
    );
  }

  override async touch(id: string, ttlSeconds: number): Promise<void> {
    const [unit, amount] = expiry(ttlSeconds);
    const key = this.key(id);
    await this.run((redis) =>
      unit === 'EX' ? redis.expire(key, amount) : redis.pexpire(key, amount),
    );
  }

  async destroy(id: string): Promise<void> {
    await this.run((redis) => redis.unlink(this.key(id)));
  }

  /**
   * User index: per user, a hash at `prefix + 'user:{' + owner + '}'` mapping
   * storage keys to `createdAt:deadline`, and a sorted set beside it at
   * `prefix + 'user:{' + owner + '}:d'` holding the same storage keys scored
   * by deadline (the owner is a digest; the hash tag keeps both keys in one
   * Cluster slot). The deadline is now plus `ttlSeconds` (the module passes
   * twice `maxAge` and adds the entry again before then while the session
   * lives). Each add drops the entries whose deadline has passed, in the same
   * script, found through the sorted set: an add costs O(log n) plus the
   * entries it drops, however many live sessions the user has (an index
   * written by an earlier version is read whole once, on its first add), and
   * an index holds no more than its owner's live sessions plus those ended
   * within `ttlSeconds`. Both keys expire on their own, no sooner than `ttlSeconds`
   * from the last add.
   */
  override async indexAdd(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
  ): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds * 1000));
    const now = Date.now();
    const args = [id, String(createdAt), String(now + ttl), String(ttl), String(now)];
    await this.script(INDEX_SHA, INDEX_SCRIPT, this.indexKeys(owner), args);
  }

  override async indexRemove(owner: string, id: string): Promise<void> {
    await this.indexForget(owner, [id]);
  }

  /** The live sessions of `owner`; entries whose session is gone are left out. */
  override async indexList(owner: string): Promise<IndexedSession[]> {
    const [indexKey] = this.indexKeys(owner);
    const entries = await this.run((redis) => redis.hgetall(indexKey));
    const ids = Object.keys(entries);
    if (ids.length === 0) return [];
    const ttls = await this.run(async (redis) => {
      if (this.cluster) return Promise.all(ids.map((id) => redis.pttl(this.key(id))));
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.pttl(this.key(id));
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, ttl]) => {
        if (error) throw error;
        return Number(ttl);
      });
    });
    const now = Date.now();
    const live: IndexedSession[] = [];
    const legacy: string[] = [];
    ids.forEach((id, i) => {
      // -2: the session is gone. Its entry is left to the deadline pruning in
      // indexAdd: the module indexes a session just before writing it, so a
      // missing record may be one on its way, and dropping its entry here
      // would hide a live session from "log out everywhere". Entries of
      // earlier versions have no deadline: those are dropped here.
      if (ttls[i] === -2) {
        if (!entries[id].includes(':')) legacy.push(id);
      } else {
        live.push({
          id,
          createdAt: createdAtOf(entries[id]),
          expiresAt: now + Math.max(ttls[i], 0),
        });
      }
    });
    if (legacy.length > 0) await this.indexForget(owner, legacy);
    return live;
  }

  /**
   * Ends sessions `ids` of `owner`: their records and their index entries. On
   * a single node that is one MULTI/EXEC (one UNLINK of every record, one
   * HDEL, one ZREM). On a Cluster the records live in different slots, so one
   * UNLINK per record and a MULTI/EXEC of the HDEL and ZREM (both index keys
   * share a slot) go out at once, each to its node: still one round trip of
   * waiting, not one per session.
   */
  override async indexDestroy(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const [indexKey, deadlinesKey] = this.indexKeys(owner);
    const keys = ids.map((id) => this.key(id));
    if (this.cluster) {
      await this.run((redis) =>
        Promise.all([...keys.map((key) => redis.unlink(key)), this.indexForget(owner, ids)]),
      );
      return;
    }
    await this.run(async (redis) =>
      settle(
        await redis
          .multi()
          .unlink(...keys)
          .hdel(indexKey, ...ids)
          .zrem(deadlinesKey, ...ids)
          .exec(),
      ),
    );
  }

  /**
   * One EVALSHA: the script edits the stored text in place, never decoding a
   * session value (see PATCH_SCRIPT). Resolves false for a missing record,
   * and for an unreadable one, which the script removed.
   */
  override async patch(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean> {
    return this.patchInto([this.key(id)], id, delta, ttlSeconds);
  }

  /** PATCH_SCRIPT on `keys` (the record, and for a move the new key). */
  private async patchInto(
    keys: string[],
    id: string,
    delta: SessionDelta,
    ttlSeconds: number,
  ): Promise<boolean> {
    const [unit, amount] = expiry(ttlSeconds);
    // Tokens exactly as `encode` writes them: JSON.stringify escapes lone
    // surrogates, so every token is well-formed UTF-8 on the wire.
    const sets: string[] = [];
    const unsets = delta.unset.map((name) => JSON.stringify(name));
    for (const [name, value] of Object.entries(delta.set)) {
      const json = JSON.stringify(value);
      // undefined has no JSON: as in JSON.stringify of a whole record, the key goes away.
      if (json === undefined) unsets.push(JSON.stringify(name));
      else sets.push(JSON.stringify(name), JSON.stringify(json));
    }
    const args = [unit, String(amount), String(sets.length / 2), ...sets, ...unsets];
    const result = Number(await this.script(PATCH_SHA, PATCH_SCRIPT, keys, args));
    if (result === PATCH_UNREADABLE) this.logger.warn(messages.corruptRecord(id));
    return result === 1;
  }

  /**
   * Moves the record of `oldId` to `newId` with `delta` applied, only if
   * `oldId` still has a record; resolves whether it did. On a single node this
   * is one atomic script (the patch script, storing under the new key). On a
   * Cluster the two keys live in different slots: the old record is taken
   * with GETDEL (Redis 6.2+), the delta applied here, and the result written
   * under the new key. Two round trips; a failure in between ends the session
   * rather than leaving two copies of it.
   */
  override async move(
    oldId: string,
    newId: string,
    delta: SessionDelta,
    ttlSeconds: number,
  ): Promise<boolean> {
    if (!this.cluster) {
      return this.patchInto([this.key(oldId), this.key(newId)], oldId, delta, ttlSeconds);
    }
    const oldKey = this.key(oldId);
    let raw: string | null | undefined;
    try {
      raw = await this.run((redis) => redis.getdel(oldKey));
    } catch (error) {
      if (!errorStartsWith(error, 'WRONGTYPE')) throw error;
      await this.run((redis) => redis.unlink(oldKey));
    }
    if (raw === null) return false;
    const record = raw === undefined ? undefined : decode(raw);
    if (record === undefined) {
      this.logger.warn(messages.corruptRecord(oldId));
      return false;
    }
    await this.write(newId, applyDelta(record, delta), ttlSeconds);
    return true;
  }

  /** Removes every key under this backend's prefix, with SCAN (never KEYS or FLUSHDB). */
  async clear(): Promise<void> {
    const keyPrefix = clientKeyPrefix(this.client);
    const pattern = `${escapeGlob(keyPrefix + this.prefix)}*`;
    // Keys come back from SCAN with the client's own keyPrefix, which ioredis adds again.
    const strip = (key: string) => key.slice(keyPrefix.length);
    if (this.cluster) {
      const cluster = this.client as Cluster;
      for (const node of cluster.nodes('master')) {
        await this.scan(node, pattern, async (keys) => {
          // Keys of one node span many slots: delete one by one (no CROSSSLOT), routed by ioredis.
          await this.run(() => Promise.all(keys.map((key) => cluster.unlink(strip(key)))));
        });
      }
      return;
    }
    await this.scan(this.client as Redis, pattern, async (keys) => {
      await this.run((redis) => redis.unlink(...keys.map(strip)));
    });
  }

  /** Closes the connection if the backend opened it; a `client` passed in is left open. */
  override async close(): Promise<void> {
    if (!this.owned || this.closed) return;
    this.closed = true;
    for (const wake of this.waiters) wake();
    const client = this.client as Redis;
    if (client.status === 'ready') {
      try {
        await client.quit();
        return;
      } catch {
        // Fall through: drop the connection instead.
      }
    }
    client.disconnect();
  }

  private connect(options: RedisBackendOptions): Redis {
    const { host, port, db, password, url, redisOptions } = options;
    // Bounded waits and no buffering: commands are never queued while
    // disconnected (they would run late, after the caller saw them fail), and
    // nothing sent on a lost connection is replayed. `run` waits for the
    // connection itself, at most commandTimeout.
    const settings: RedisOptions = {
      commandTimeout: this.commandTimeout,
      connectTimeout: Math.max(this.commandTimeout, 2000),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
      ...redisOptions,
      ...(host !== undefined && { host }),
      ...(port !== undefined && { port }),
      ...(db !== undefined && { db }),
      ...(password !== undefined && { password }),
    };
    const client = url ? new ioredis.Redis(url, settings) : new ioredis.Redis(settings);
    client.on('error', (error: Error) => {
      if (!this.lastError) this.logger.warn(messages.redisError(error.message));
      this.lastError = error;
    });
    client.on('ready', () => {
      if (this.lastError) this.logger.log(messages.redisRestored());
      this.lastError = undefined;
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    });
    return client;
  }

  /**
   * Runs a command once the connection is ready, waiting at most
   * `commandTimeout` for it. Only for connections the backend opened: a
   * `client` passed in behaves as its owner configured it.
   */
  private async run<T>(command: (redis: Commands) => Promise<T>): Promise<T> {
    if (this.owned) await this.ready();
    return command(this.client as unknown as Commands);
  }

  private ready(): Promise<void> {
    const client = this.client as Redis;
    if (this.closed) return Promise.reject(new Error(messages.redisClosed()));
    if (client.status === 'ready') return Promise.resolve();
    // With lazyConnect in redisOptions, nothing else would start the connection.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (this.closed) reject(new Error(messages.redisClosed()));
        else resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(
          this.lastError ?? new Error(messages.redisNotReady(client.status, this.commandTimeout)),
        );
      }, this.commandTimeout);
      this.waiters.add(wake);
    });
  }

  private async scan(
    node: Redis,
    pattern: string,
    remove: (keys: string[]) => Promise<void>,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.runOn(node, () =>
        node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
      );
      if (keys.length > 0) await remove(keys);
      cursor = next;
    } while (cursor !== '0');
  }

  private async runOn<T>(node: Redis, command: () => Promise<T>): Promise<T> {
    if (node === this.client) return this.run(command);
    return command();
  }

  /** EVALSHA, falling back to EVAL the first time a server has not seen the script. */
  private script(sha: string, source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.run(async (redis) => {
      try {
        return await redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!errorStartsWith(error, 'NOSCRIPT')) throw error;
        return await redis.eval(source, keys.length, ...keys, ...args);
      }
    });
  }

  /** The index hash and its sorted set of deadlines, in one slot. */
  private indexKeys(owner: string): [string, string] {
    const indexKey = `${this.prefix}user:{${owner}}`;
    return [indexKey, `${indexKey}:d`];
  }

  /** Removes entries from both index keys at once (one MULTI/EXEC, one slot). */
  private async indexForget(owner: string, ids: readonly string[]): Promise<void> {
    const [indexKey, deadlinesKey] = this.indexKeys(owner);
    await this.run(async (redis) =>
      settle(
        await redis
          .multi()
          .hdel(indexKey, ...ids)
          .zrem(deadlinesKey, ...ids)
          .exec(),
      ),
    );
  }

  private key(id: string): string {
    return this.cluster ? `${this.prefix}{${id}}` : this.prefix + id;
  }

  /**
   * Fetches and decodes a record. One that cannot be decoded (not this
   * backend's format, or a key of another type) is logged and removed, so
   * nothing unusable stays reachable by its cookie.
   */
  private async load(
    id: string,
    get: (redis: Commands, key: string) => Promise<string | null>,
  ): Promise<SessionData | null> {
    const key = this.key(id);
    // undefined: the key holds another type (a hash, a list...).
    let raw: string | null | undefined;
    try {
      raw = await this.run((redis) => get(redis, key));
    } catch (error) {
      if (!errorStartsWith(error, 'WRONGTYPE')) throw error;
    }
    if (raw === null) return null;
    const data = raw === undefined ? undefined : decode(raw);
    if (data !== undefined) return data;
    this.logger.warn(messages.corruptRecord(id));
    await this.run((redis) => redis.unlink(key));
    return null;
  }
}

/**
 * One JSON object whose fields hold the JSON text of each session key's value,
 * as JSON.stringify writes it: no whitespace, and lone surrogates (in names
 * and values alike) escaped as `\uXXXX`, so the text is valid UTF-8 and
 * PATCH_SCRIPT can match names byte for byte.
 */
function encode(data: SessionData): string {
  const fields: [string, string][] = [];
  for (const [name, value] of Object.entries(data)) {
    const json = JSON.stringify(value);
    if (json !== undefined) fields.push([name, json]);
  }
  // fromEntries defines properties, so a key named "__proto__" stays a plain key.
  return JSON.stringify(Object.fromEntries(fields));
}

/** The record stored by `encode`, or undefined when the value is not one. */
function decode(raw: string): SessionData | undefined {
  try {
    const outer: unknown = JSON.parse(raw);
    if (outer === null || typeof outer !== 'object' || Array.isArray(outer)) return undefined;
    const fields: [string, unknown][] = [];
    for (const [name, json] of Object.entries(outer)) {
      if (typeof json !== 'string') return undefined;
      fields.push([name, JSON.parse(json)]);
    }
    return Object.fromEntries(fields);
  } catch {
    return undefined;
  }
}

/** The creation time of an index entry: `createdAt:deadline`, or a bare createdAt (earlier versions). */
function createdAtOf(entry: string): number {
  const colon = entry.indexOf(':');
  return Number(colon === -1 ? entry : entry.slice(0, colon));
}

/** Throws the first error of a MULTI/EXEC, or when Redis aborted it. */
function settle(replies: [Error | null, unknown][] | null): void {
  if (!replies) throw new Error(messages.redisTransactionAborted());
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
}

/** The keyPrefix ioredis adds to every key of this client (a Cluster's own, or its nodes'). */
function clientKeyPrefix(client: Redis | Cluster): string {
  const options = client.options as {
    keyPrefix?: string;
    redisOptions?: { keyPrefix?: string };
  };
  return String(options.keyPrefix ?? options.redisOptions?.keyPrefix ?? '');
}

function errorStartsWith(error: unknown, code: string): boolean {
  return String((error as Error | undefined)?.message).startsWith(code);
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** Whole seconds use EX (as most clients do); anything else PX, at least 1 ms. */
function expiry(ttlSeconds: number): ['EX' | 'PX', number] {
  if (!Number.isFinite(ttlSeconds)) {
    throw new RangeError(messages.redisOption('ttlSeconds', 'a finite number', ttlSeconds));
  }
  if (Number.isInteger(ttlSeconds) && ttlSeconds > 0) return ['EX', ttlSeconds];
  return ['PX', Math.max(1, Math.round(ttlSeconds * 1000))];
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
