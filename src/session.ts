import type { SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import { SessionValueError } from './session.errors.js';
import { copyJson, toJsonValue } from './session.json.js';
import { messages } from './session.messages.js';

/**
 * One request's session: a small map of JSON values. Get it in a handler with
 * `@Session()`, or anywhere with `await sessionService.load(request)`; the
 * same object is `request.session`. Changes are saved after the handler, and
 * only the keys that changed are written (on backends that support it).
 *
 * Values must be JSON-serialisable; reading returns copies, so mutating a
 * nested object changes nothing until it is `set` again.
 *
 * @example
 * session.set('cart', [...session.get('cart', []), item]);
 */
export class Session<T extends SessionData = SessionData> {
  /** @internal */ _id = '';
  /** @internal */ _storageKey = '';
  /** @internal A record exists in the backend for `_storageKey`. */
  _stored = false;
  /** @internal First creation (survives `regenerate`), ms since the epoch; 0 until stored. */
  _createdAt = 0;
  /** @internal When the stored record expires, ms since the epoch; 0 until stored. */
  _expiresAt = 0;
  /** @internal Digest of the user key's value when loaded or last saved (user index). */
  _owner: string | undefined;
  /** @internal When the user index entry was last refreshed, ms since the epoch. */
  _indexedAt = 0;
  /** @internal Keys set since the last save. */
  _changed = new Set<string>();
  /** @internal Keys deleted since the last save. */
  _deleted = new Set<string>();
  /** @internal Called on the first change after a save. */
  _onChange: (() => void) | undefined;

  private data: Record<string, unknown>;

  /** @internal Sessions are made by `SessionService`, not by applications. */
  constructor(data: Record<string, unknown> = {}) {
    this.data = data;
  }

  /** The session id; `''` until a new session is first saved. */
  get id(): string {
    return this._id;
  }

  /** True when no stored record existed when the session was loaded. */
  get isNew(): boolean {
    return !this._stored;
  }

  /** A copy of the value under `key`, or `fallback` (else `undefined`) when absent. */
  get<K extends keyof T>(key: K): T[K] | undefined;
  get<K extends keyof T>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T>(key: K, fallback?: T[K]): T[K] | undefined {
    const name = String(key);
    return Object.hasOwn(this.data, name) ? copyJson(this.data[name] as T[K]) : fallback;
  }

  /**
   * Stores a copy of `value` under `key`. Throws a `SessionValueError` naming
   * the key (and the path inside the value) when the value would not come back
   * from JSON as it went in (a `Map`, a class instance without `toJSON`, a
   * function, an array hole…) or the key is reserved; the session is then
   * unchanged.
   */
  set<K extends keyof T>(key: K, value: T[K]): this {
    // A number key is its string, as for any object; a symbol has no JSON.
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new SessionValueError(messages.invalidKey(String(key)));
    }
    const name = String(key);
    if (name === META_KEY) throw new SessionValueError(messages.reservedKey(name));
    // Assigning "__proto__" would replace the data object's prototype, not store a value.
    if (name === '__proto__') throw new SessionValueError(messages.prototypeKey(name));
    this.data[name] = toJsonValue(name, value);
    this._deleted.delete(name);
    this._changed.add(name);
    this.changed();
    return this;
  }

  /** True when `key` holds a value. */
  has(key: keyof T): boolean {
    return Object.hasOwn(this.data, String(key));
  }

  /** Removes `key`; true when it was there. */
  delete(key: keyof T): boolean {
    const name = String(key);
    if (!Object.hasOwn(this.data, name)) return false;
    delete this.data[name];
    this._changed.delete(name);
    this._deleted.add(name);
    this.changed();
    return true;
  }

  /** Removes every key. A stored session emptied this way is deleted and its cookie cleared. */
  clear(): void {
    for (const name of Object.keys(this.data)) this.delete(name);
  }

  /** The keys that hold a value. */
  keys(): (keyof T)[] {
    return Object.keys(this.data) as (keyof T)[];
  }

  /** A copy of all values. */
  toJSON(): Partial<T> {
    return copyJson(this.data) as Partial<T>;
  }

  /** @internal True when something changed since the session was loaded or last saved. */
  get _modified(): boolean {
    return this._changed.size > 0 || this._deleted.size > 0;
  }

  /** @internal The data as stored (no copy), for the backend record. */
  get _data(): Readonly<Record<string, unknown>> {
    return this.data;
  }

  /** @internal Marks the current state as saved. */
  _saved(): void {
    this._stored = true;
    this._clean();
  }

  /** @internal Forgets what changed (nothing left to save). */
  _clean(): void {
    this._changed.clear();
    this._deleted.clear();
  }

  /** @internal Turns this object into a new, empty, unsaved session. */
  _reset(): void {
    this.data = {};
    this._id = '';
    this._storageKey = '';
    this._stored = false;
    this._createdAt = 0;
    this._expiresAt = 0;
    this._owner = undefined;
    this._indexedAt = 0;
    this._changed.clear();
    this._deleted.clear();
  }

  private changed(): void {
    if (this._onChange) {
      const onChange = this._onChange;
      this._onChange = undefined;
      onChange();
    }
  }
}
