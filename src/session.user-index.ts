import type { Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { BackendCapabilities } from './backends/backend-capabilities.js';
import type { IndexedSession } from './backends/session-backend.js';
import { messages } from './session.messages.js';

/** @internal What a user key may hold to be indexed: a string or a finite number. */
export function isUserId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * @internal The index key of a user: a digest of the user id as JSON (`123`
 * and `'123'` are different users), so no user id appears in key names.
 */
export function ownerDigest(user: string | number): string {
  return createHash('sha256')
    .update(`user:${JSON.stringify(user)}`)
    .digest('base64url');
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

  async add(
    owner: string | undefined,
    key: string,
    createdAt: number,
    lifetime = this.maxAge,
  ): Promise<void> {
    if (owner !== undefined) {
      await this.capabilities.index?.indexAdd(owner, key, createdAt, Math.ceil(lifetime * 2));
    }
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
