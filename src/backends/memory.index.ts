import type { IndexedSession } from './session-backend.js';

interface IndexEntry {
  createdAt: number;
  /** When the entry stops counting unless it is added again (ms since the epoch). */
  deadline: number;
  /** When it was last added (ms since the epoch). */
  addedAt: number;
}

/**
 * How long an entry whose record is missing is kept: the module indexes a
 * session just before writing it, so a missing record may be one on its way.
 */
const INDEX_GRACE_MS = 10_000;

/**
 * @internal `MemoryBackend`'s user index: owner → (storage key → entry).
 * `expiryOf` tells when a live record expires (undefined when there is none).
 */
export class MemoryIndex {
  private readonly owners = new Map<string, Map<string, IndexEntry>>();

  constructor(private readonly expiryOf: (id: string) => number | undefined) {}

  /** Adds (or renews) an entry good for `ttlSeconds`, dropping the owner's ended ones. */
  add(owner: string, id: string, createdAt: number, ttlSeconds: number): void {
    const now = Date.now();
    let sessions = this.owners.get(owner);
    if (!sessions) this.owners.set(owner, (sessions = new Map()));
    else this.prune(sessions, now);
    sessions.set(id, { createdAt, deadline: now + ttlSeconds * 1000, addedAt: now });
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
    for (const [id, { createdAt }] of sessions) {
      const expiresAt = this.expiryOf(id);
      if (expiresAt !== undefined && expiresAt > now) list.push({ id, createdAt, expiresAt });
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
