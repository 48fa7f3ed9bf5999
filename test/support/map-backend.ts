import { SessionBackend, type SessionData } from '../../src/backends/session-backend.js';

/** Options of {@link MapBackend}. */
export interface MapBackendOptions {
  /**
   * Keep records past their TTL, as some stores do: ending sessions is then
   * the module's job alone. Default false.
   */
  ignoreTtl?: boolean;
}

interface StoredRecord {
  json: string;
  ttlSeconds: number;
  expiresAt: number;
}

/**
 * The smallest custom backend: a `Map` of JSON text and the four abstract
 * methods, nothing else (no `touch`, `readAndTouch`, `patch`, `move`, index or
 * `close`). The conformance suite and the e2e tests use it to prove that this
 * is enough. Besides the backend methods it lets a test look at what is
 * stored, by storage key, and plant anything there.
 */
export class MapBackend extends SessionBackend {
  private readonly records = new Map<string, StoredRecord>();
  private readonly ignoreTtl: boolean;

  constructor(options: MapBackendOptions = {}) {
    super();
    this.ignoreTtl = options.ignoreTtl ?? false;
  }

  async read(id: string): Promise<SessionData | null> {
    const record = this.records.get(id);
    if (!record) return null;
    if (!this.ignoreTtl && record.expiresAt <= Date.now()) {
      this.records.delete(id);
      return null;
    }
    return JSON.parse(record.json) as SessionData;
  }

  async write(id: string, data: SessionData, ttlSeconds: number): Promise<void> {
    this.store(id, JSON.stringify(data), ttlSeconds);
  }

  async destroy(id: string): Promise<void> {
    this.records.delete(id);
  }

  async clear(): Promise<void> {
    this.records.clear();
  }

  /** How many records are stored, expired ones included. */
  get size(): number {
    return this.records.size;
  }

  /** The storage keys of the stored records, in the order they were first written. */
  keys(): string[] {
    return [...this.records.keys()];
  }

  /** Whether anything is stored under `key`, expired or not. */
  has(key: string): boolean {
    return this.records.has(key);
  }

  /** What is stored under `key`, parsed (even past its TTL), or undefined. */
  record(key: string): SessionData | undefined {
    const record = this.records.get(key);
    return record === undefined ? undefined : (JSON.parse(record.json) as SessionData);
  }

  /** The TTL the last write of `key` was given, in seconds. */
  ttlOf(key: string): number | undefined {
    return this.records.get(key)?.ttlSeconds;
  }

  /** Stores `value` under `key` as it is, even what is not a session record (a string, an array). */
  plant(key: string, value: unknown, ttlSeconds = 60): void {
    this.store(key, JSON.stringify(value), ttlSeconds);
  }

  /** Every key and stored text, as one string: what a dump of the store would show. */
  dump(): string {
    return JSON.stringify([...this.records].map(([key, { json }]) => [key, json]));
  }

  private store(id: string, json: string, ttlSeconds: number): void {
    this.records.set(id, { json, ttlSeconds, expiresAt: Date.now() + ttlSeconds * 1000 });
  }
}
