import { messages } from '../session.messages.js';
import type { RedisConnection } from './redis.connection.js';
import type { RedisKeys } from './redis.keys.js';
import { INDEX_SCRIPT } from './redis.index-script.js';
import { runScript } from './redis.scripts.js';
import {
  INDEX_GRACE_MS,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type SessionLimit,
} from './session-backend.js';

/**
 * @internal The user index of RedisBackend: per user, a hash mapping storage
 * keys to `createdAt:seenAt:deadline`, a sorted set beside it holding the same
 * storage keys scored by deadline, and a hash of descriptions (see RedisKeys;
 * the owner is a digest, and the hash tag keeps the keys in one Cluster slot). The deadline is now plus
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
  async add(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): Promise<void> {
    await this.runIndexScript(owner, id, createdAt, ttlSeconds, details);
  }

  /**
   * `add` under `limit`: the owner's entries are read with their sessions'
   * TTLs (those whose session is gone, and not added moments ago, are
   * ended), then one INDEX_SCRIPT decides and edits the index atomically;
   * the records of the sessions it evicted are deleted right after.
   */
  async addLimited(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
  ): Promise<LimitedAdd> {
    const [indexKey] = this.keys.index(owner);
    const entries = await this.connection.run((redis) => redis.hgetall(indexKey));
    const ids = Object.keys(entries);
    const ttls = await this.ttlsOf(ids);
    const now = Date.now();
    const gone = ids.filter(
      (key, i) => ttls[i] === -2 && seenAt(entries[key]) < now - INDEX_GRACE_MS,
    );
    const reply = (await this.runIndexScript(owner, id, createdAt, ttlSeconds, details, [
      String(limit.max),
      limit.onLimit,
      limit.replaces ?? '',
      ...gone,
    ])) as (number | string)[];
    if (Number(reply[0]) === 0) return { rejected: true, evicted: [] };
    const evicted = reply.slice(1).map(String);
    if (evicted.length > 0) {
      const keys = evicted.map((key) => this.keys.session(key));
      await this.connection.run(async (redis) => {
        if (this.connection.cluster) await Promise.all(keys.map((key) => redis.unlink(key)));
        else await redis.unlink(...keys);
      });
    }
    return { rejected: false, evicted };
  }

  /** The live sessions of `owner`; entries whose session is gone are left out. */
  async list(owner: string): Promise<IndexedSession[]> {
    const [indexKey, , infoKey] = this.keys.index(owner);
    const [entries, infos] = await this.connection.run((redis) =>
      Promise.all([redis.hgetall(indexKey), redis.hgetall(infoKey)]),
    );
    const ids = Object.keys(entries);
    if (ids.length === 0) return [];
    const ttls = await this.ttlsOf(ids);
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
        const info = Object.hasOwn(infos, id) ? infos[id] : undefined;
        live.push({
          id,
          createdAt: createdAtOf(entries[id]),
          expiresAt: now + Math.max(ttls[i], 0),
          seenAt: seenAt(entries[id]),
          ...(info !== undefined && { info }),
        });
      }
    });
    if (legacy.length > 0) await this.forget(owner, legacy);
    return live;
  }

  /** The PTTL of each session in `ids` (-2 for one that is gone), in one round trip of waiting. */
  private async ttlsOf(ids: readonly string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const sessionKeys = ids.map((id) => this.keys.session(id));
    return this.connection.run(async (redis) => {
      if (this.connection.cluster) return Promise.all(sessionKeys.map((key) => redis.pttl(key)));
      const pipeline = redis.pipeline();
      for (const key of sessionKeys) pipeline.pttl(key);
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, ttl]) => {
        if (error) throw error;
        return Number(ttl);
      });
    });
  }

  private runIndexScript(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails | undefined,
    limit: string[] = ['0', '', ''],
  ): Promise<unknown> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds * 1000));
    const now = Date.now();
    const seen = String(Math.round(details?.seenAt ?? now));
    const args = [id, String(createdAt), String(now + ttl), String(ttl), String(now), seen];
    args.push(details?.info ?? '', ...limit);
    const keys = this.keys.index(owner);
    return this.connection.run((redis) => runScript(redis, INDEX_SCRIPT, keys, args));
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
    const [indexKey, deadlinesKey, infoKey] = this.keys.index(owner);
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
          .hdel(infoKey, ...ids)
          .exec(),
      ),
    );
  }

  /** Removes entries from the index keys at once (one MULTI/EXEC, one slot). */
  async forget(owner: string, ids: readonly string[]): Promise<void> {
    const [indexKey, deadlinesKey, infoKey] = this.keys.index(owner);
    await this.connection.run(async (redis) =>
      settle(
        await redis
          .multi()
          .hdel(indexKey, ...ids)
          .zrem(deadlinesKey, ...ids)
          .hdel(infoKey, ...ids)
          .exec(),
      ),
    );
  }
}

/** The creation time of an index entry: `createdAt:seenAt:deadline`, `createdAt:deadline` or a bare createdAt (earlier versions). */
function createdAtOf(entry: string): number {
  const colon = entry.indexOf(':');
  return Number(colon === -1 ? entry : entry.slice(0, colon));
}

/** When an entry's session was last seen: its creation time in entries of earlier versions. */
function seenAt(entry: string): number {
  const parts = entry.split(':');
  return Number(parts.length === 3 ? parts[1] : parts[0]);
}

/** Throws the first error of a MULTI/EXEC, or when Redis aborted it. */
function settle(replies: [Error | null, unknown][] | null): void {
  if (!replies) throw new Error(messages.redisTransactionAborted());
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
}
