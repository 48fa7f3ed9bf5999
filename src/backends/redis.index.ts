import { messages } from '../session.messages.js';
import type { RedisConnection } from './redis.connection.js';
import type { RedisKeys } from './redis.keys.js';
import { INDEX_SCRIPT, runScript } from './redis.scripts.js';
import type { IndexedSession } from './session-backend.js';

/**
 * @internal The user index of RedisBackend: per user, a hash mapping storage
 * keys to `createdAt:deadline`, and a sorted set beside it holding the same
 * storage keys scored by deadline (see RedisKeys; the owner is a digest, and
 * the hash tag keeps both keys in one Cluster slot). The deadline is now plus
 * `ttlSeconds` (the module passes twice `maxAge` and adds the entry again
 * before then while the session lives). Each add drops the entries whose
 * deadline has passed, in the same script, found through the sorted set: an
 * add costs O(log n) plus the entries it drops, however many live sessions
 * the user has (an index written by an earlier version is read whole once,
 * on its first add), and an index holds no more than its owner's live
 * sessions plus those ended within `ttlSeconds`. Both keys expire on their
 * own, no sooner than `ttlSeconds` from the last add.
 */
export class RedisUserIndex {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  /** One INDEX_SCRIPT: adds the entry and prunes ended ones atomically. */
  async add(owner: string, id: string, createdAt: number, ttlSeconds: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds * 1000));
    const now = Date.now();
    const args = [id, String(createdAt), String(now + ttl), String(ttl), String(now)];
    const keys = this.keys.index(owner);
    await this.connection.run((redis) => runScript(redis, INDEX_SCRIPT, keys, args));
  }

  /** The live sessions of `owner`; entries whose session is gone are left out. */
  async list(owner: string): Promise<IndexedSession[]> {
    const [indexKey] = this.keys.index(owner);
    const entries = await this.connection.run((redis) => redis.hgetall(indexKey));
    const ids = Object.keys(entries);
    if (ids.length === 0) return [];
    const sessionKeys = ids.map((id) => this.keys.session(id));
    const ttls = await this.connection.run(async (redis) => {
      if (this.connection.cluster) return Promise.all(sessionKeys.map((key) => redis.pttl(key)));
      const pipeline = redis.pipeline();
      for (const key of sessionKeys) pipeline.pttl(key);
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
      // add: the module indexes a session just before writing it, so a
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
    if (legacy.length > 0) await this.forget(owner, legacy);
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
  async destroy(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const [indexKey, deadlinesKey] = this.keys.index(owner);
    const keys = ids.map((id) => this.keys.session(id));
    if (this.connection.cluster) {
      await this.connection.run((redis) =>
        Promise.all([...keys.map((key) => redis.unlink(key)), this.forget(owner, ids)]),
      );
      return;
    }
    await this.connection.run(async (redis) =>
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

  /** Removes entries from both index keys at once (one MULTI/EXEC, one slot). */
  async forget(owner: string, ids: readonly string[]): Promise<void> {
    const [indexKey, deadlinesKey] = this.keys.index(owner);
    await this.connection.run(async (redis) =>
      settle(
        await redis
          .multi()
          .hdel(indexKey, ...ids)
          .zrem(deadlinesKey, ...ids)
          .exec(),
      ),
    );
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
