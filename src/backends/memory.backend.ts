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
import { MemoryIndex } from './memory.index.js';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /**
   * Most sessions kept. Past it, expired sessions go first, then sessions that
   * were never used after the request that created them, and only then
   * sessions in use. Default 10 000.
   */
  maxSessions?: number;
  /** How often expired sessions are swept, in seconds. Default 60. */
  sweepIntervalSeconds?: number;
}

interface Entry {
  json: string;
  expiresAt: number;
  /** Logical time of the last use: the LRU order within the entry's segment. */
  used: number;
  /** In the protected segment: used again after the request that created it. */
  kept: boolean;
}

/** Share of `maxSessions` evicted (or demoted) at once when a bound is passed (at least one). */
const BATCH_SHARE = 0.05;
/** Share of `maxSessions` the protected segment may hold. */
const PROTECTED_SHARE = 0.8;

/**
 * The embedded default backend: sessions in this process's memory. It honours
 * TTLs, stores copies so requests never share objects, and its sweep timer
 * never keeps the process alive. Sessions are lost on restart and are not
 * shared between instances: use `RedisBackend` for that.
 *
 * It is bounded by `maxSessions` with a segmented LRU, so a flood of
 * sessions that are never used again (cookie-less requests to a route that
 * writes the session) cannot push out the sessions people are using. A new
 * session starts on probation; once a later request reads it, it moves to
 * the protected segment, which holds at most 80% of
 * `maxSessions` (past that, its least recently used move back to probation).
 * Past `maxSessions`, expired sessions go first, then probation's least
 * recently used; protected sessions only when probation is empty.
 *
 * @example
 * SessionModule.forRoot({ secretKey, backend: new MemoryBackend({ maxSessions: 50_000 }) })
 */
export class MemoryBackend extends SessionBackend {
  private readonly entries = new Map<string, Entry>();
  private readonly index = new MemoryIndex((id) => this.entries.get(id)?.expiresAt);
  private readonly maxSessions: number;
  private readonly maxProtected: number;
  private readonly batch: number;
  private readonly sweepMs: number;
  private timer: NodeJS.Timeout | undefined;
  private clock = 0;
  private protectedCount = 0;

  constructor(options: MemoryBackendOptions = {}) {
    super();
    const { maxSessions = 10_000, sweepIntervalSeconds = 60 } = options;
    if (!Number.isInteger(maxSessions) || maxSessions < 1) {
      throw new RangeError(
        `MemoryBackend maxSessions must be a positive integer, got ${maxSessions}`,
      );
    }
    if (typeof sweepIntervalSeconds !== 'number' || !(sweepIntervalSeconds > 0)) {
      throw new RangeError(
        `MemoryBackend sweepIntervalSeconds must be a positive number, got ${sweepIntervalSeconds}`,
      );
    }
    this.maxSessions = maxSessions;
    this.maxProtected = Math.floor(maxSessions * PROTECTED_SHARE);
    this.batch = Math.floor(maxSessions * BATCH_SHARE);
    this.sweepMs = sweepIntervalSeconds * 1000;
  }

  /** How many sessions are held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  async read(id: string): Promise<SessionData | null> {
    const entry = this.live(id);
    if (!entry) return null;
    this.use(entry);
    return JSON.parse(entry.json);
  }

  async write(id: string, data: SessionData, ttlSeconds: number): Promise<void> {
    this.store(id, JSON.stringify(data), ttlSeconds);
  }

  async destroy(id: string): Promise<void> {
    this.remove(id);
  }

  async clear(): Promise<void> {
    this.entries.clear();
    this.index.clear();
    this.protectedCount = 0;
  }

  override async touch(id: string, ttlSeconds: number): Promise<void> {
    const entry = this.live(id);
    if (!entry) return;
    entry.used = ++this.clock;
    entry.expiresAt = Date.now() + ttlSeconds * 1000;
  }

  override async readAndTouch(id: string, ttlSeconds: number): Promise<SessionData | null> {
    const entry = this.live(id);
    if (!entry) return null;
    this.use(entry);
    entry.expiresAt = Date.now() + ttlSeconds * 1000;
    return JSON.parse(entry.json);
  }

  override async patch(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean> {
    const entry = this.live(id);
    if (!entry) return false;
    const data = applyDelta(JSON.parse(entry.json) as SessionData, delta);
    // Recency only: the request that created a session may save it twice
    // (regenerate, then a change), and that is not a return.
    entry.used = ++this.clock;
    entry.json = JSON.stringify(data);
    entry.expiresAt = Date.now() + ttlSeconds * 1000;
    return true;
  }

  override async move(
    oldId: string,
    newId: string,
    delta: SessionDelta,
    ttlSeconds: number,
  ): Promise<boolean> {
    const entry = this.live(oldId);
    if (!entry) return false;
    const json = JSON.stringify(applyDelta(JSON.parse(entry.json) as SessionData, delta));
    if (oldId !== newId) {
      this.remove(newId);
      this.entries.delete(oldId);
      // The record keeps its segment: a new id is not a new session.
      this.entries.set(newId, entry);
    }
    entry.json = json;
    entry.expiresAt = Date.now() + ttlSeconds * 1000;
    entry.used = ++this.clock;
    return true;
  }

  override async indexAdd(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): Promise<void> {
    this.index.add(owner, id, createdAt, ttlSeconds, details);
  }

  /** `indexAdd` under `maxSessionsPerUser`, in one synchronous step. */
  override async indexAddLimited(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
  ): Promise<LimitedAdd> {
    return this.index.addLimited(owner, id, createdAt, ttlSeconds, details, limit, (key) =>
      this.remove(key),
    );
  }

  override async indexRemove(owner: string, id: string): Promise<void> {
    this.index.remove(owner, [id]);
  }

  override async indexList(owner: string): Promise<IndexedSession[]> {
    return this.index.list(owner);
  }

  override async indexDestroy(owner: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) this.remove(id);
    this.index.remove(owner, ids);
  }

  override async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Removes expired sessions now; the timer calls it every `sweepIntervalSeconds`. */
  sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) this.remove(id, entry);
    }
    // The index follows: entries of sessions that ended, or past their deadline, go too.
    this.index.sweep(now);
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.remove(id, entry);
      return undefined;
    }
    return entry;
  }

  /**
   * A read by a later request than the one that created the record: most
   * recent in its segment, and promoted out of probation. Only a flag changes, never the
   * Map: deleting and re-adding keys churns V8's hash table, which costs far
   * more than the operation itself once it is large.
   */
  private use(entry: Entry): void {
    entry.used = ++this.clock;
    if (entry.kept) return;
    entry.kept = true;
    this.protectedCount += 1;
    if (this.protectedCount > this.maxProtected) this.demote();
  }

  private remove(id: string, entry = this.entries.get(id)): void {
    if (!entry) return;
    this.entries.delete(id);
    if (entry.kept) this.protectedCount -= 1;
  }

  private store(id: string, json: string, ttlSeconds: number): void {
    const expiresAt = Date.now() + ttlSeconds * 1000;
    const entry = this.entries.get(id);
    if (entry) {
      // Updated in place (see `use`). Writing is not evidence of a later
      // request, so the record stays in its segment.
      entry.json = json;
      entry.expiresAt = expiresAt;
      entry.used = ++this.clock;
    } else {
      this.entries.set(id, { json, expiresAt, used: ++this.clock, kept: false });
      if (this.entries.size > this.maxSessions) this.evict();
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }

  /**
   * Back under `maxSessions`: expired sessions go first, then probation's
   * least recently used, and protected ones only if probation runs out; a
   * small batch at a time so the sort is paid rarely.
   */
  private evict(): void {
    this.sweep();
    const excess = this.entries.size - this.maxSessions;
    if (excess <= 0) return;
    const victims = this.oldest(false, Math.max(excess, this.batch));
    if (victims.length < excess) victims.push(...this.oldest(true, excess - victims.length));
    for (const [id, entry] of victims) this.remove(id, entry);
  }

  /**
   * The protected segment is over its share: its least recently used move
   * back to probation, a small batch at a time, as probation's most recent
   * (in their order), so they get a second chance before eviction.
   */
  private demote(): void {
    const count = Math.max(this.protectedCount - this.maxProtected, this.batch);
    for (const [, entry] of this.oldest(true, count)) {
      entry.kept = false;
      entry.used = ++this.clock;
      this.protectedCount -= 1;
    }
  }

  /** The `count` least recently used records of one segment, oldest first. */
  private oldest(kept: boolean, count: number): [string, Entry][] {
    const segment: [string, Entry][] = [];
    for (const pair of this.entries) if (pair[1].kept === kept) segment.push(pair);
    return segment.sort((a, b) => a[1].used - b[1].used).slice(0, count);
  }
}
