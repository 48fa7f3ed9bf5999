import { SessionBackend, type SessionData } from '../../src/backends/session-backend.js';

/**
 * The smallest custom backend: a `Map` and the four abstract methods, nothing
 * else (no `touch`, `patch`, `readAndTouch`, `move` or `close`). The
 * conformance suite and the e2e tests use it to prove that this is enough.
 */
export class MapBackend extends SessionBackend {
  readonly records = new Map<string, { json: string; expiresAt: number }>();

  async read(id: string): Promise<SessionData | null> {
    const record = this.records.get(id);
    if (!record) return null;
    if (record.expiresAt <= Date.now()) {
      this.records.delete(id);
      return null;
    }
    return JSON.parse(record.json) as SessionData;
  }

  async write(id: string, data: SessionData, ttlSeconds: number): Promise<void> {
    this.records.set(id, { json: JSON.stringify(data), expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  async destroy(id: string): Promise<void> {
    this.records.delete(id);
  }

  async clear(): Promise<void> {
    this.records.clear();
  }
}
