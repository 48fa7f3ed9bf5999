import type { Logger } from '@nestjs/common';
import { hash } from 'node:crypto';
import type { BackendCapabilities } from './backends/backend-capabilities.js';
import type { IndexedSession } from './backends/session-backend.js';
import { SessionLimitError } from './session.errors.js';
import { messages } from './session.messages.js';
import type { SessionLimitPolicy } from './session.options.js';

/**
 * How often, at most, an active session's `lastSeenAt` is refreshed: the
 * entry is rewritten only by a request that writes or extends the session
 * anyway, and only once this much has passed since the last time.
 */
export const SEEN_INTERVAL_MS = 60_000;

/** @internal The `maxSessionsPerUser` option. */
export interface UserLimit {
  readonly max: number;
  readonly onLimit: SessionLimitPolicy;
}

/** @internal What a user key may hold to be indexed: a string or a finite number. */
export function isUserId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * @internal The index key of a user: a digest of the user id as JSON (`123`
 * and `'123'` are different users), so no user id appears in key names.
 */
export function ownerDigest(user: string | number): string {
  return hash('sha256', `user:${JSON.stringify(user)}`, 'base64url');
}

/**
 * @internal The user index behind the `userKey` option: which user a session
 * belongs to, when its entry is due for a refresh, and ending sessions with
 * their entries. Without `userKey` every method is a no-op (no owner).
 */
export class UserIndex {
  private warned = false;

  constructor(
    readonly userKey: string | undefined,
    private readonly maxAge: number,
    private readonly capabilities: BackendCapabilities,
    private readonly logger: Logger,
    private readonly limit?: UserLimit,
  ) {}

  /** The owner (digest) named by `data[userKey]`, an own property holding a user id. */
  ownerOf(data: unknown): string | undefined {
    const { userKey } = this;
    if (userKey === undefined || data === null || typeof data !== 'object') return undefined;
    if (!Object.hasOwn(data, userKey)) return undefined;
    const value = (data as Record<string, unknown>)[userKey];
    if (value === null) return undefined;
    if (isUserId(value)) return ownerDigest(value);
    if (!this.warned) {
      this.warned = true;
      this.logger.warn(messages.userKeyValueNotIndexed(userKey, value));
    }
    return undefined;
  }

  /** The user `data[userKey]` names (a string or a finite number), for events. */
  userOf(data: unknown): string | number | undefined {
    const { userKey } = this;
    if (userKey === undefined || data === null || typeof data !== 'object') return undefined;
    if (!Object.hasOwn(data, userKey)) return undefined;
    const value = (data as Record<string, unknown>)[userKey];
    return isUserId(value) ? value : undefined;
  }

  /** The owner of `user`, for the methods that take one; throws for a value that is no user id. */
  requireOwner(user: unknown): string {
    const { userKey } = this;
    if (userKey === undefined || !this.capabilities.index) {
      throw new Error(messages.userKeyNotSet());
    }
    if (!isUserId(user)) throw new TypeError(messages.invalidUser(userKey, user));
    return ownerDigest(user);
  }

  /**
   * The entry must outlive the session: it is good for twice the session's
   * lifetime (`maxAge`, or its own) and refreshed once half of it has
   * passed, so a session (extended by at most its lifetime per request)
   * always ends before its entry does.
   */
  stale(indexedAt: number, now: number, lifetime = this.maxAge): boolean {
    return now - indexedAt > (lifetime * 1000) / 2;
  }

  /** True when `lastSeenAt` may be refreshed again (see SEEN_INTERVAL_MS). */
  seenDue(indexedAt: number, now: number, lifetime = this.maxAge): boolean {
    return now - indexedAt >= Math.min(SEEN_INTERVAL_MS, (lifetime * 1000) / 2);
  }

  /** Renews the entry of a session the owner already has: seen now, description kept. */
  async add(
    owner: string | undefined,
    key: string,
    createdAt: number,
    lifetime = this.maxAge,
  ): Promise<void> {
    if (owner !== undefined) {
      await this.capabilities.index?.indexAdd(owner, key, createdAt, entryTtl(lifetime), {
        seenAt: Date.now(),
      });
    }
  }

  /**
   * Indexes a session the owner did not have (created, regenerated from
   * `replaces`, or moved to this user), with its description, under the
   * `maxSessionsPerUser` rule: resolves the storage keys of the sessions it
   * ended to make room, or throws a `SessionLimitError` (nothing added).
   */
  async enter(
    owner: string | undefined,
    key: string,
    createdAt: number,
    info: string | undefined,
    { replaces, lifetime = this.maxAge }: { replaces?: string; lifetime?: number } = {},
  ): Promise<readonly string[]> {
    const { index, limit: capability } = this.capabilities;
    if (owner === undefined || !index) return [];
    const details = { seenAt: Date.now(), ...(info !== undefined && { info }) };
    const { limit } = this;
    if (!limit || !capability) {
      await index.indexAdd(owner, key, createdAt, entryTtl(lifetime), details);
      return [];
    }
    const result = await capability.indexAddLimited(
      owner,
      key,
      createdAt,
      entryTtl(lifetime),
      details,
      {
        max: limit.max,
        onLimit: limit.onLimit,
        ...(replaces !== undefined && { replaces }),
      },
    );
    if (result.rejected) throw new SessionLimitError(messages.sessionLimit(limit.max), limit.max);
    return result.evicted;
  }

  /**
   * True unless session `key`, indexed for `owner` by `enter` under
   * `'evict-oldest'`, was evicted by a concurrent login before its record was
   * written; then its record is deleted here. (An eviction deletes the
   * records it finds: one not written yet is only found by this check.)
   */
  async kept(owner: string | undefined, key: string): Promise<boolean> {
    if (owner === undefined || this.limit?.onLimit !== 'evict-oldest') return true;
    const has = this.capabilities.limit?.indexHas;
    const present = has
      ? await has.call(this.capabilities.limit, owner, key)
      : (await this.list(owner)).some((entry) => entry.id === key);
    if (present) return true;
    await this.capabilities.backend.destroy(key);
    return false;
  }

  async remove(owner: string | undefined, key: string): Promise<void> {
    if (owner !== undefined) await this.capabilities.index?.indexRemove(owner, key);
  }

  /** The live sessions of `owner` (a digest from `requireOwner`). */
  async list(owner: string): Promise<IndexedSession[]> {
    return (await this.capabilities.index?.indexList(owner)) ?? [];
  }

  /** Deletes sessions with their index entries, in as few round trips as the backend allows. */
  async end(owner: string | undefined, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const { backend, index } = this.capabilities;
    if (owner !== undefined && index?.indexDestroy) {
      await index.indexDestroy(owner, keys);
      return;
    }
    await Promise.all(
      keys.map(async (key) => {
        await backend.destroy(key);
        await this.remove(owner, key);
      }),
    );
  }
}

/** How long an index entry is good for: twice the session's lifetime (see `stale`). */
function entryTtl(lifetime: number): number {
  return Math.ceil(lifetime * 2);
}
