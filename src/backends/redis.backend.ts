import { Logger } from '@nestjs/common';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { messages } from '../session.messages.js';
import { decode, deltaArgs, encode, expiry } from './redis.codec.js';
import { isCluster, isReplyError, RedisConnection, type Commands } from './redis.connection.js';
import { RedisUserIndex } from './redis.index.js';
import { clientKeyPrefix, RedisKeys, scanKeys } from './redis.keys.js';
import { PATCH_SCRIPT, PATCH_UNREADABLE, runScript } from './redis.scripts.js';
import {
  applyDelta,
  SessionBackend,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type SessionData,
  type SessionDelta,
  type SessionLimit,
} from './session-backend.js';

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

const DEFAULT_PREFIX = 'session:';

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
  private readonly keys: RedisKeys;
  private readonly connection: RedisConnection;
  private readonly index: RedisUserIndex;

  constructor(options: RedisBackendOptions = {}) {
    super();
    // The prefix is checked first, so a bad one never leaves a connection open.
    this.keys = new RedisKeys(options.prefix ?? DEFAULT_PREFIX, isCluster(options.client));
    this.connection = new RedisConnection(options, this.logger);
    this.index = new RedisUserIndex(this.connection, this.keys);
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
    const key = this.keys.session(id);
    const value = encode(data);
    await this.connection.run((redis) =>
      unit === 'EX' ? redis.set(key, value, 'EX', amount) : redis.set(key, value, 'PX', amount),
    );
  }

  override async touch(id: string, ttlSeconds: number): Promise<void> {
    const [unit, amount] = expiry(ttlSeconds);
    const key = this.keys.session(id);
    await this.connection.run((redis) =>
      unit === 'EX' ? redis.expire(key, amount) : redis.pexpire(key, amount),
    );
  }

  async destroy(id: string): Promise<void> {
    await this.connection.run((redis) => redis.unlink(this.keys.session(id)));
  }

  /**
   * User index: per user, a hash at `prefix + 'user:{' + owner + '}'` mapping
   * storage keys to `createdAt:seenAt:deadline`, a sorted set of deadlines
   * beside it at the same key plus `':d'`, and the descriptions at `':i'`. Each add drops the entries whose deadline
   * has passed, in one script: O(log n) plus what it drops, however many live
   * sessions the user has. Both keys expire on their own, no sooner than
   * `ttlSeconds` from the last add.
   */
  override async indexAdd(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): Promise<void> {
    await this.index.add(owner, id, createdAt, ttlSeconds, details);
  }

  /**
   * `indexAdd` under `maxSessionsPerUser`: one script per user decides and
   * edits the index atomically (the hash tag keeps a user's keys in one
   * Cluster slot); the evicted sessions' records are deleted right after.
   */
  override async indexAddLimited(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
  ): Promise<LimitedAdd> {
    return this.index.addLimited(owner, id, createdAt, ttlSeconds, details, limit);
  }

  override async indexRemove(owner: string, id: string): Promise<void> {
    await this.index.forget(owner, [id]);
  }

  /** The live sessions of `owner`; entries whose session is gone are left out. */
  override async indexList(owner: string): Promise<IndexedSession[]> {
    return this.index.list(owner);
  }

  /**
   * Ends sessions `ids` of `owner` and drops their index entries: one
   * MULTI/EXEC on a single node, one round trip of waiting on a Cluster.
   */
  override async indexDestroy(owner: string, ids: readonly string[]): Promise<void> {
    await this.index.destroy(owner, ids);
  }

  /**
   * One EVALSHA: the script edits the stored text in place, never decoding a
   * session value (see PATCH_SCRIPT). Resolves false for a missing record,
   * and for an unreadable one, which the script removed.
   */
  override async patch(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean> {
    return this.patchInto([this.keys.session(id)], id, delta, ttlSeconds);
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
    const oldKey = this.keys.session(oldId);
    if (!this.connection.cluster) {
      return this.patchInto([oldKey, this.keys.session(newId)], oldId, delta, ttlSeconds);
    }
    let raw: string | null | undefined;
    try {
      raw = await this.connection.run((redis) => redis.getdel(oldKey));
    } catch (error) {
      if (!isReplyError(error, 'WRONGTYPE')) throw error;
      await this.connection.run((redis) => redis.unlink(oldKey));
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

  /**
   * Removes every key under this backend's prefix, with SCAN on each node
   * that holds keys (never KEYS or FLUSHDB).
   */
  async clear(): Promise<void> {
    const { client, cluster } = this.connection;
    const keyPrefix = clientKeyPrefix(client);
    const pattern = this.keys.pattern(keyPrefix);
    for (const node of this.connection.masters()) {
      for await (const found of scanKeys(node, pattern)) {
        // SCAN returns keys with the client's keyPrefix, which ioredis adds again.
        const keys = found.map((key) => key.slice(keyPrefix.length));
        // Keys of one Cluster node span many slots: one UNLINK each (no CROSSSLOT), routed by ioredis.
        await this.connection.run<unknown>((redis) =>
          cluster ? Promise.all(keys.map((key) => redis.unlink(key))) : redis.unlink(...keys),
        );
      }
    }
  }

  /** Closes the connection if the backend opened it; a `client` passed in is left open. */
  override async close(): Promise<void> {
    await this.connection.close();
  }

  /** PATCH_SCRIPT on `keys` (the record, and for a move the new key). */
  private async patchInto(
    keys: string[],
    id: string,
    delta: SessionDelta,
    ttlSeconds: number,
  ): Promise<boolean> {
    const [unit, amount] = expiry(ttlSeconds);
    const args = [unit, String(amount), ...deltaArgs(delta)];
    const result = Number(
      await this.connection.run((redis) => runScript(redis, PATCH_SCRIPT, keys, args)),
    );
    if (result === PATCH_UNREADABLE) this.logger.warn(messages.corruptRecord(id));
    return result === 1;
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
    const key = this.keys.session(id);
    // undefined: the key holds another type (a hash, a list...).
    let raw: string | null | undefined;
    try {
      raw = await this.connection.run((redis) => get(redis, key));
    } catch (error) {
      if (!isReplyError(error, 'WRONGTYPE')) throw error;
    }
    if (raw === null) return null;
    const data = raw === undefined ? undefined : decode(raw);
    if (data !== undefined) return data;
    this.logger.warn(messages.corruptRecord(id));
    await this.connection.run((redis) => redis.unlink(key));
    return null;
  }
}
