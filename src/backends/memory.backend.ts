import { SessionBackend, type SessionData, type SessionDelta } from './session-backend.js';

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
}

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
  private readonly maxSessions: number;
  private readonly sweepMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryBackendOptions = {}) {
    super();
    const { maxSessions = 10_000, sweepIntervalSeconds = 60 } = options;
    if (!Number.isInteger(maxSessions) || maxSessions < 1) {
      throw new RangeError(`MemoryBackend maxSessions must be a positive integer, got ${maxSessions}`);
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

  override async rename(oldId: string, newId: string, data: SessionData, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(data);
    this.entries.delete(oldId);
    this.store(newId, json, ttlSeconds);
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
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    // Re-inserting moves the entry to the end: Map order is the LRU order.
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry;
  }

  private store(id: string, json: string, ttlSeconds: number): void {
    this.entries.delete(id);
    this.entries.set(id, { json, expiresAt: Date.now() + ttlSeconds * 1000 });
    while (this.entries.size > this.maxSessions) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }
}
