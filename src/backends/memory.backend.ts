import {
  SessionBackend,
  type IndexedSession,
  type SessionData,
  type SessionDelta,
} from './session-backend.js';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** Most sessions kept; past it the least recently used is evicted. Default 10 000. */
  maxSessions?: number;
  /** How often expired sessions are swept, in seconds. Default 60. */
  sweepIntervalSeconds?: number;
}

interface Entry {
  json: string;
  expiresAt: number;
  /** Logical time of the last use: the LRU order. */
  used: number;
}

/** Share of `maxSessions` evicted at once when the bound is passed (at least one). */
const EVICT_SHARE = 0.05;

/**
 * The embedded default backend: sessions in this process's memory. It honours
 * TTLs, is bounded (least recently used sessions are evicted past
 * `maxSessions`), stores copies so requests never share objects, and its sweep
 * timer never keeps the process alive. Sessions are lost on restart and are not
 * shared between instances: use `RedisBackend` for that.
 *
 * @example
 * SessionModule.forRoot({ secretKey, backend: new MemoryBackend({ maxSessions: 50_000 }) })
 */
export class MemoryBackend extends SessionBackend {
  private readonly entries = new Map<string, Entry>();
  /** owner → (storage key → createdAt) */
  private readonly owners = new Map<string, Map<string, number>>();
  private readonly maxSessions: number;
  private readonly sweepMs: number;
  private timer: NodeJS.Timeout | undefined;
  private clock = 0;

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
    this.sweepMs = sweepIntervalSeconds * 1000;
  }

  /** How many sessions are held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  async read(id: string): Promise<SessionData | null> {
    const entry = this.live(id);
    return entry ? JSON.parse(entry.json) : null;
  }

  async write(id: string, data: SessionData, ttlSeconds: number): Promise<void> {
    this.store(id, JSON.stringify(data), ttlSeconds);
  }

  async destroy(id: string): Promise<void> {
    this.entries.delete(id);
  }

  async clear(): Promise<void> {
    this.entries.clear();
    this.owners.clear();
  }

  override async touch(id: string, ttlSeconds: number): Promise<void> {
    const entry = this.live(id);
    if (entry) entry.expiresAt = Date.now() + ttlSeconds * 1000;
  }

  override async readAndTouch(id: string, ttlSeconds: number): Promise<SessionData | null> {
    const entry = this.live(id);
    if (!entry) return null;
    entry.expiresAt = Date.now() + ttlSeconds * 1000;
    return JSON.parse(entry.json);
  }

  override async patch(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean> {
    const entry = this.live(id);
    if (!entry) return false;
    const data = JSON.parse(entry.json) as SessionData;
    for (const key of delta.unset) delete data[key];
    Object.assign(data, delta.set);
    this.store(id, JSON.stringify(data), ttlSeconds);
    return true;
  }

  override async rename(
    oldId: string,
    newId: string,
    data: SessionData,
    ttlSeconds: number,
  ): Promise<boolean> {
    this.entries.delete(oldId);
    this.store(newId, JSON.stringify(data), ttlSeconds);
    return true;
  }

  override async indexAdd(owner: string, id: string, createdAt: number): Promise<void> {
    let sessions = this.owners.get(owner);
    if (!sessions) this.owners.set(owner, (sessions = new Map()));
    sessions.set(id, createdAt);
  }

  override async indexRemove(owner: string, id: string): Promise<void> {
    const sessions = this.owners.get(owner);
    if (!sessions) return;
    sessions.delete(id);
    if (sessions.size === 0) this.owners.delete(owner);
  }

  override async indexList(owner: string): Promise<IndexedSession[]> {
    const sessions = this.owners.get(owner);
    if (!sessions) return [];
    const now = Date.now();
    const list: IndexedSession[] = [];
    for (const [id, createdAt] of sessions) {
      const entry = this.entries.get(id);
      if (entry && entry.expiresAt > now) list.push({ id, createdAt, expiresAt: entry.expiresAt });
      else sessions.delete(id);
    }
    if (sessions.size === 0) this.owners.delete(owner);
    return list;
  }

  override async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Removes expired sessions now; the timer calls it every `sweepIntervalSeconds`. */
  sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(id);
    }
    // The index follows: entries of sessions that expired or were evicted go too.
    for (const [owner, sessions] of this.owners) {
      for (const id of sessions.keys()) if (!this.entries.has(id)) sessions.delete(id);
      if (sessions.size === 0) this.owners.delete(owner);
    }
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    entry.used = ++this.clock;
    return entry;
  }

  private store(id: string, json: string, ttlSeconds: number): void {
    const expiresAt = Date.now() + ttlSeconds * 1000;
    const entry = this.entries.get(id);
    if (entry) {
      // Updated in place: deleting and re-adding Map keys churns V8's hash
      // table, which costs far more than the write itself once it is large.
      entry.json = json;
      entry.expiresAt = expiresAt;
      entry.used = ++this.clock;
    } else {
      this.entries.set(id, { json, expiresAt, used: ++this.clock });
      if (this.entries.size > this.maxSessions) this.evict();
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }

  /**
   * Back under `maxSessions`: expired sessions go first, then the least
   * recently used, a small batch at a time so the sort is paid rarely.
   */
  private evict(): void {
    this.sweep();
    const excess = this.entries.size - this.maxSessions;
    if (excess <= 0) return;
    const count = Math.max(excess, Math.floor(this.maxSessions * EVICT_SHARE));
    const oldest = [...this.entries].sort((a, b) => a[1].used - b[1].used).slice(0, count);
    for (const [id] of oldest) this.entries.delete(id);
  }
}
