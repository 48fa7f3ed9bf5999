import type { SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import { MAX_COOKIE_MAX_AGE } from './session.constants.js';
import { SessionValueError } from './session.errors.js';
import { copyJson, toJsonValue } from './session.json.js';
import { messages } from './session.messages.js';
import { recordOf, setRecord } from './session.record.js';

// Assigned by the class's static block, which alone can reach its private fields.
let internals!: SessionInternals;

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
  #data: Record<string, unknown>;
  /** Keys set since the last save. */
  readonly #changed = new Set<string>();
  /** Keys deleted since the last save. */
  readonly #deleted = new Set<string>();
  /** Called on the first change after a save. */
  #onChange: (() => void) | undefined;
  /** The session's own lifetime and cookie kind (undefined: the module's). */
  #lifetime: SessionLifetime = {};
  /** `#lifetime` changed since the last save. */
  #lifetimeChanged = false;

  static {
    internals = {
      data: (session) => session.#data,
      changed: (session) => session.#changed,
      deleted: (session) => session.#deleted,
      lifetime: (session) => session.#lifetime,
      lifetimeChanged: (session) => session.#lifetimeChanged,
      restoreLifetime: (session, lifetime) => {
        session.#lifetime = lifetime;
      },
      saved: (session) => {
        session.#changed.clear();
        session.#deleted.clear();
        session.#lifetimeChanged = false;
      },
      reset: (session) => {
        session.#data = {};
        session.#changed.clear();
        session.#deleted.clear();
        session.#lifetime = {};
        session.#lifetimeChanged = false;
        setRecord(session, undefined);
      },
      onChange: (session, listener) => {
        session.#onChange = listener;
      },
    };
  }

  /** @internal Sessions are made by `SessionService`, not by applications. */
  constructor(data: Record<string, unknown> = {}) {
    this.#data = data;
  }

  /** The session id; `''` until a new session is first saved. */
  get id(): string {
    return recordOf(this)?.id ?? '';
  }

  /** True when no stored record existed when the session was loaded. */
  get isNew(): boolean {
    return !recordOf(this)?.stored;
  }

  /** The session's own lifetime in seconds (`setMaxAge`), or undefined: the module's `maxAge`. */
  get maxAge(): number | undefined {
    return this.#lifetime.maxAge;
  }

  /**
   * Gives this session a lifetime of its own, in seconds, instead of the
   * module's `maxAge`: a login form's "remember me" box picks 30 days where
   * the default is 8 hours. The store's TTL, the server-side expiry and the
   * cookie follow it from this request on; `rolling` slides by it,
   * `absoluteTimeout` still caps it, and it survives `regenerate`. `null`
   * goes back to the module's `maxAge`.
   *
   * `persistent: false` makes the cookie a browser-session cookie (no
   * `Max-Age` nor `Expires`: the browser drops it when it closes) while the
   * server still ends the session after its lifetime; `true` a persistent one
   * whatever `cookie.persistent` says. Throws a `RangeError` for a lifetime
   * that is not a positive number of seconds up to 400 days (34 560 000).
   *
   * @example
   * session.set('userId', user.id);
   * if (body.remember) session.setMaxAge(30 * 24 * 3600);
   * else session.setMaxAge(null, { persistent: false });
   * await this.sessions.regenerate(req);
   */
  setMaxAge(seconds: number | null, options: { persistent?: boolean } = {}): this {
    if (
      seconds !== null &&
      (typeof seconds !== 'number' ||
        !Number.isFinite(seconds) ||
        seconds <= 0 ||
        seconds > MAX_COOKIE_MAX_AGE)
    ) {
      throw new RangeError(messages.invalidMaxAge(seconds, MAX_COOKIE_MAX_AGE));
    }
    const persistent = options?.persistent;
    if (persistent !== undefined && typeof persistent !== 'boolean') {
      throw new TypeError(messages.invalidPersistent(persistent));
    }
    this.#lifetime = {
      maxAge: seconds ?? undefined,
      persistent: persistent ?? this.#lifetime.persistent,
    };
    this.#lifetimeChanged = true;
    this.#changedNow();
    return this;
  }

  /** A copy of the value under `key`, or `fallback` (else `undefined`) when absent. */
  get<K extends keyof T>(key: K): T[K] | undefined;
  get<K extends keyof T>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T>(key: K, fallback?: T[K]): T[K] | undefined {
    const name = String(key);
    return Object.hasOwn(this.#data, name) ? copyJson(this.#data[name] as T[K]) : fallback;
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
    this.#data[name] = toJsonValue(name, value);
    this.#deleted.delete(name);
    this.#changed.add(name);
    this.#changedNow();
    return this;
  }

  /** True when `key` holds a value. */
  has(key: keyof T): boolean {
    return Object.hasOwn(this.#data, String(key));
  }

  /** Removes `key`; true when it was there. */
  delete(key: keyof T): boolean {
    const name = String(key);
    if (!Object.hasOwn(this.#data, name)) return false;
    delete this.#data[name];
    this.#changed.delete(name);
    this.#deleted.add(name);
    this.#changedNow();
    return true;
  }

  /** Removes every key. A stored session emptied this way is deleted and its cookie cleared. */
  clear(): void {
    for (const name of Object.keys(this.#data)) this.delete(name);
  }

  /** The keys that hold a value. */
  keys(): (keyof T)[] {
    return Object.keys(this.#data) as (keyof T)[];
  }

  /** A copy of all values. */
  toJSON(): Partial<T> {
    return copyJson(this.#data) as Partial<T>;
  }

  #changedNow(): void {
    const listener = this.#onChange;
    if (listener) {
      this.#onChange = undefined;
      listener();
    }
  }
}

/**
 * @internal What the store and the request layer need of a `Session` beyond
 * its public methods: its data (no copy), its change set, and a listener for
 * the first change. Reachable only inside the package.
 */
export interface SessionInternals {
  data(session: Session): Readonly<Record<string, unknown>>;
  lifetime(session: Session): Readonly<SessionLifetime>;
  lifetimeChanged(session: Session): boolean;
  /** Sets the lifetime a stored record has, without counting it as a change. */
  restoreLifetime(session: Session, lifetime: SessionLifetime): void;
  changed(session: Session): ReadonlySet<string>;
  deleted(session: Session): ReadonlySet<string>;
  /** Forgets what changed: the current state is saved. */
  saved(session: Session): void;
  /** Turns the session into a new, empty one, without an id. */
  reset(session: Session): void;
  /** Calls `listener` once, on the next change. */
  onChange(session: Session, listener: (() => void) | undefined): void;
}

/** @internal A session's own lifetime (seconds) and cookie kind; undefined: the module's. */
export interface SessionLifetime {
  maxAge?: number;
  persistent?: boolean;
}

/** @internal */
export function sessionInternals(): SessionInternals {
  return internals;
}

/** @internal True when `session` changed since it was loaded or last saved. */
export function isModified(session: Session): boolean {
  return (
    internals.changed(session).size > 0 ||
    internals.deleted(session).size > 0 ||
    internals.lifetimeChanged(session)
  );
}
