import {
  INDEX_GRACE_MS,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type SessionLimit,
} from './session-backend.js';

interface IndexEntry {
  createdAt: number;
  /** When the session was last seen (ms since the epoch). */
  seenAt: number;
  /** What `describe` recorded (JSON text), if anything. */
  info?: string;
  /** When the entry stops counting unless it is added again (ms since the epoch). */
  deadline: number;
  /** When it was last added (ms since the epoch). */
  addedAt: number;
}

/**
 * @internal `MemoryBackend`'s user index: owner → (storage key → entry).
 * `expiryOf` tells when a live record expires (undefined when there is none).
 */
export class MemoryIndex {
  private readonly owners = new Map<string, Map<string, IndexEntry>>();

  constructor(private readonly expiryOf: (id: string) => number | undefined) {}

  /** Adds (or renews) an entry good for `ttlSeconds`, dropping the owner's ended ones. */
  add(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): void {
    const now = Date.now();
    let sessions = this.owners.get(owner);
    if (!sessions) this.owners.set(owner, (sessions = new Map()));
    else this.prune(sessions, now);
    const info = details?.info ?? sessions.get(id)?.info;
    sessions.set(id, {
      createdAt,
      seenAt: details?.seenAt ?? now,
      ...(info !== undefined && { info }),
      deadline: now + ttlSeconds * 1000,
      addedAt: now,
    });
  }

  /**
   * `add` under `limit`, in one synchronous step (so atomic). Counts the
   * owner's other entries whose session is live or may be on its way (added
   * within the grace period), and returns the ids it ended, least recently
   * seen first; `end` deletes their records.
   */
  addLimited(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
    end: (id: string) => void,
  ): LimitedAdd {
    const now = Date.now();
    const sessions = this.owners.get(owner);
    if (sessions) this.prune(sessions, now);
    // Counted: live sessions, and entries seen moments ago whose record may be on its way.
    const counted = ([key, entry]: [string, IndexEntry]) =>
      (this.expiryOf(key) ?? 0) > now || now - entry.seenAt <= INDEX_GRACE_MS;
    const others = [...(sessions ?? [])]
      .filter((item) => item[0] !== id && item[0] !== limit.replaces && counted(item))
      .sort(([a, x], [b, y]) => x.seenAt - y.seenAt || (a < b ? -1 : 1));
    const excess = others.length + 1 - limit.max;
    if (excess > 0 && limit.onLimit === 'reject') return { rejected: true, evicted: [] };
    const evicted = excess > 0 ? others.slice(0, excess).map(([key]) => key) : [];
    for (const key of evicted) end(key);
    this.remove(owner, evicted);
    this.add(owner, id, createdAt, ttlSeconds, details);
    return { rejected: false, evicted };
  }

  /** Forgets entries `ids` of `owner`. */
  remove(owner: string, ids: readonly string[]): void {
    const sessions = this.owners.get(owner);
    if (!sessions) return;
    for (const id of ids) sessions.delete(id);
    if (sessions.size === 0) this.owners.delete(owner);
  }

  /** The owner's sessions whose record is live, with its expiry. */
  list(owner: string): IndexedSession[] {
    const sessions = this.owners.get(owner);
    if (!sessions) return [];
    const now = Date.now();
    this.prune(sessions, now);
    if (sessions.size === 0) this.owners.delete(owner);
    const list: IndexedSession[] = [];
    for (const [id, { createdAt, seenAt, info }] of sessions) {
      const expiresAt = this.expiryOf(id);
      if (expiresAt !== undefined && expiresAt > now) {
        list.push({ id, createdAt, expiresAt, seenAt, ...(info !== undefined && { info }) });
      }
    }
    return list;
  }

  /** Drops ended entries of every owner (the backend's sweep). */
  sweep(now: number): void {
    for (const [owner, sessions] of this.owners) {
      this.prune(sessions, now);
      if (sessions.size === 0) this.owners.delete(owner);
    }
  }

  clear(): void {
    this.owners.clear();
  }

  /**
   * Drops entries whose deadline passed or whose session ended, but not an
   * entry added moments ago whose record may still be on its way: dropping
   * that one would hide a live session from "log out everywhere".
   */
  private prune(sessions: Map<string, IndexEntry>, now: number): void {
    for (const [id, { deadline, addedAt }] of sessions) {
      const expiresAt = this.expiryOf(id);
      const ended = expiresAt === undefined || expiresAt <= now;
      if (deadline <= now || (ended && now - addedAt > INDEX_GRACE_MS)) sessions.delete(id);
    }
  }
}
