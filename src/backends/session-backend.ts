import { META_KEY } from '../session.constants.js';

/**
 * What a session holds: a plain object of JSON values. Open for declaration
 * merging, so an application can type its own keys:
 *
 * @example
 * declare module 'pselfastapise-async' {
 *   interface SessionData { userId?: number; username?: string }
 * }
 */
export interface SessionData {
  [key: string]: unknown;
}

/**
 * A change to a stored record, for backends with the optional `patch`
 * capability: the keys to set (with their new values) and the keys to remove.
 * Applying only the change, instead of rewriting the whole record, is what
 * keeps two overlapping requests of one session from losing each other's
 * updates.
 */
export interface SessionDelta {
  readonly set: Readonly<Record<string, unknown>>;
  readonly unset: readonly string[];
}

/**
 * One entry of a user's session index, as a backend with the index capability
 * reports it: the session's storage key, and when it was created and expires
 * (milliseconds since the epoch).
 */
export interface IndexedSession {
  readonly id: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** When the module last wrote the entry (ms since the epoch); `createdAt` when not recorded. */
  readonly seenAt?: number;
  /** The JSON text the application's `describe` option recorded, if any. */
  readonly info?: string;
}

/**
 * What `indexAdd` records besides the creation time: when the session was
 * last seen and, optionally, the JSON text of what the application's
 * `describe` option returned (an entry added without `info` keeps the one it
 * has). Backends store `info` as an opaque string; they never parse it.
 */
export interface IndexEntryDetails {
  readonly seenAt: number;
  readonly info?: string;
}

/**
 * The `maxSessionsPerUser` rule, for `indexAddLimited`: at most `max` live
 * sessions per owner, counting the one added. `replaces` names a session the
 * added one takes the place of (`regenerate`): it is neither counted nor
 * ended.
 */
export interface SessionLimit {
  readonly max: number;
  readonly onLimit: 'evict-oldest' | 'reject';
  readonly replaces?: string;
}

/** What `indexAddLimited` did: refused the entry, or added it and ended `evicted`. */
export interface LimitedAdd {
  readonly rejected: boolean;
  /** Storage keys of the sessions ended to make room (records and entries deleted). */
  readonly evicted: readonly string[];
}

/**
 * @internal How long a user-index entry whose record is missing still counts:
 * the module indexes a session just before writing it, so a missing record
 * may be one on its way.
 */
export const INDEX_GRACE_MS = 10_000;

/**
 * Where sessions live. Subclass it and implement the four abstract methods to
 * write your own backend; that alone is enough to work. The `id` a backend
 * receives is the storage key (a SHA-256 digest of the session id), never the
 * session id itself, so a dump of the store yields no usable cookie.
 *
 * Optional capabilities (`readAndTouch`, `patch`, `move`, the user index
 * `indexAdd` / `indexRemove` / `indexList`, and `close`) are used
 * when a backend has them: they save round trips and make concurrent requests
 * safe. `MemoryBackend`, `RedisBackend` and `PostgresBackend` have all of them.
 *
 * @example
 * class MapBackend extends SessionBackend {
 *   private readonly map = new Map<string, string>();
 *   async read(id: string) { const v = this.map.get(id); return v ? JSON.parse(v) : null; }
 *   async write(id: string, data: SessionData) { this.map.set(id, JSON.stringify(data)); }
 *   async destroy(id: string) { this.map.delete(id); }
 *   async clear() { this.map.clear(); }
 * }
 */
export abstract class SessionBackend {
  /**
   * The stored record, or `null` when there is none (or it expired). A record
   * the backend cannot decode should be removed and `null` returned, so that
   * nothing unusable stays reachable by its cookie.
   */
  abstract read(id: string): Promise<SessionData | null>;

  /** Stores the whole record, replacing any previous one, to expire after `ttlSeconds`. */
  abstract write(id: string, data: SessionData, ttlSeconds: number): Promise<void>;

  /** Removes the record; a missing record is not an error. */
  abstract destroy(id: string): Promise<void>;

  /** Removes every session of this backend (and nothing else). */
  abstract clear(): Promise<void>;

  /**
   * Extends a record's lifetime to `ttlSeconds` from now. The default re-reads
   * the record and rewrites it only if it still exists (with its expiry time
   * moved, for stores that ignore TTLs); override it when the store can do
   * better, without rewriting the data.
   */
  async touch(id: string, ttlSeconds: number): Promise<void> {
    const data = await this.read(id);
    if (data === null) return;
    const meta = data[META_KEY];
    if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) {
      data[META_KEY] = { ...meta, e: Date.now() + ttlSeconds * 1000 };
    }
    await this.write(id, data, ttlSeconds);
  }

  /** Optional: `read` and `touch` in one step (one round trip). */
  readAndTouch?(id: string, ttlSeconds: number): Promise<SessionData | null>;

  /**
   * Optional: applies `delta` to an existing record atomically and sets its
   * lifetime. Resolves `false`, creating nothing, when the record does not
   * exist (so a session destroyed meanwhile is not brought back), and also
   * when it exists but cannot be decoded: such a record is removed first.
   * Application values are never decoded by the store (they may hold
   * anything a JavaScript string can).
   */
  patch?(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean>;

  /**
   * Optional: moves the record stored under `oldId` to `newId` with `delta`
   * applied (as `patch` applies it) and sets its lifetime, as one step,
   * **only if a record exists under `oldId`**. Resolves `false`, writing
   * nothing, when it does not (the session was ended meanwhile and must not
   * come back under a new id). Moving what is stored, rather than the
   * request's copy, keeps what other requests changed meanwhile.
   */
  move?(oldId: string, newId: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean>;

  /**
   * Optional (user index, for the `userKey` option): records that session `id`
   * belongs to `owner` (an opaque digest of the user's id), created at
   * `createdAt`. The entry is good for `ttlSeconds` from now (the module adds
   * it again before then while the session lives), and the index as a whole
   * must live at least that long. Adding an entry also drops entries of
   * sessions that ended, so an index stays bounded by its live sessions.
   */
  indexAdd?(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): Promise<void>;

  /**
   * Optional (user index, for the `maxSessionsPerUser` option): `indexAdd`
   * under a limit, as one atomic step per owner. Counts the owner's other
   * live sessions (and entries added moments ago whose record may be on its
   * way), leaving out `id` and `limit.replaces`; when adding `id` would make
   * more than `limit.max`, either adds nothing (`'reject'`) or ends the
   * least recently seen ones, records and entries (`'evict-oldest'`). Two
   * concurrent calls for one owner must not both see room for one more.
   */
  indexAddLimited?(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
  ): Promise<LimitedAdd>;

  /**
   * Optional (for `maxSessionsPerUser` with `'evict-oldest'`): whether `id`
   * is still indexed for `owner`, read only once any `indexAddLimited` for
   * that owner under way has finished (so an eviction it makes is seen).
   * Without it, the module reads `indexList`, which is enough for a backend
   * whose `indexAddLimited` is one atomic step (Redis, memory).
   */
  indexHas?(owner: string, id: string): Promise<boolean>;

  /** Optional (user index): forgets that session `id` belongs to `owner`. */
  indexRemove?(owner: string, id: string): Promise<void>;

  /**
   * Optional (user index): the live sessions of `owner`, with their current
   * expiry; entries whose sessions are gone are left out. (They are not to
   * be deleted here at once: the module indexes a session just before it
   * writes the record, so a missing record may be one on its way.)
   */
  indexList?(owner: string): Promise<IndexedSession[]>;

  /**
   * Optional (user index): ends sessions `ids` of `owner`, deleting each
   * record together with its index entry, in a bounded number of round trips
   * (one pipeline or script rather than two commands per session). Without
   * it, the module calls `destroy` and `indexRemove` for each.
   */
  indexDestroy?(owner: string, ids: readonly string[]): Promise<void>;

  /** Optional: releases what the backend opened itself; called on application shutdown. */
  close?(): Promise<void>;
}

/**
 * @internal `record` with `delta` applied, in place: removals first, then the
 * values set (defined, not assigned, so a key named "__proto__" stays data).
 */
export function applyDelta(record: SessionData, delta: SessionDelta): SessionData {
  for (const name of delta.unset) delete record[name];
  for (const name of Object.keys(delta.set)) setOwn(record, name, delta.set[name]);
  return record;
}

/**
 * @internal Sets an own property, also for the name "__proto__" (plain
 * assignment would change the object's prototype instead).
 */
export function setOwn(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * @internal Accepts subclasses of `SessionBackend`, and objects shaped like one
 * (a backend built against another copy of this package).
 */
export function isSessionBackend(value: unknown): value is SessionBackend {
  if (value instanceof SessionBackend) return true;
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Record<string, unknown>;
  return ['read', 'write', 'destroy', 'clear', 'touch'].every(
    (method) => typeof candidate[method] === 'function',
  );
}
