import type { SessionData } from './backends/session-backend.js';
import { accessHandler, reservedNames } from './session.access.js';
import { MAX_COOKIE_MAX_AGE } from './session.constants.js';
import type { SessionCookie } from './session.cookie-view.js';
import { copyJson } from './session.json.js';
import { messages } from './session.messages.js';
import { recordOf, setRecord } from './session.record.js';
import {
  changedNow,
  deleteValue,
  markSaved,
  newState,
  reconcile,
  resetState,
  setValue,
  STATE,
  type SessionCallback,
  type SessionCalls,
  type SessionLifetime,
  type SessionState,
} from './session.state.js';

export type { SessionLifetime } from './session.state.js';

// Assigned by the class's static block, which alone can reach its private fields.
let internals!: SessionInternals;

/**
 * Makes every session a proxy over itself (the subclass's private fields
 * then live on the proxy, so methods work through it), with one handler
 * shared by all sessions.
 */
class SessionBase {
  constructor(state: SessionState) {
    Object.defineProperty(this, STATE, { value: state, configurable: true });
    return new Proxy(this, handler);
  }
}

/**
 * One request's session: a small map of JSON values. Get it in a handler with
 * `@Session()`, or anywhere with `await sessionService.load(request)`; the
 * same object is `request.session`. Changes are saved after the handler, and
 * only the keys that changed are written (on backends that support it).
 *
 * Values must be JSON-serialisable. `get` returns copies, so mutating a
 * nested object it returned changes nothing until it is `set` again.
 *
 * It also speaks express-session's API, for code written for it (Passport,
 * connect-flash): data keys as properties (`session.views++`,
 * `session.cart.push(item)`: a nested object read this way is live, and its
 * changes are saved), `regenerate(cb)`, `save(cb)`, `destroy(cb)`,
 * `reload(cb)`, `touch()` and `cookie`. A key named like a method or accessor
 * of the session (`get`, `save`, `cookie`, `id`…, or `then`) is reachable only
 * through `get` / `set`.
 *
 * @example
 * session.set('cart', [...session.get('cart', []), item]);
 * // or, express-session style:
 * (req.session.cart ??= []).push(item);
 */
export class Session<T extends SessionData = SessionData> extends SessionBase {
  #state: SessionState;

  static {
    internals = {
      data: (session) => session.#state.data,
      changed: (session) => session.#state.changed,
      deleted: (session) => session.#state.deleted,
      lifetime: (session) => session.#state.lifetime,
      lifetimeChanged: (session) => session.#state.lifetimeChanged,
      restoreLifetime: (session, lifetime) => {
        session.#state.lifetime = lifetime;
      },
      saved: (session) => markSaved(session.#state),
      reset: (session, data) => {
        resetState(session.#state, data);
        setRecord(session, undefined);
      },
      onChange: (session, listener) => {
        session.#state.onChange = listener;
      },
      bind: (session, calls, context) => {
        session.#state.calls = calls;
        session.#state.context = context;
      },
      reconcile: (session) => reconcile(session.#state),
      check: (session) => {
        const state = session.#state;
        reconcile(state);
        if (state.invalid) throw state.invalid;
      },
    };
  }

  /** @internal Sessions are made by `SessionService`, not by applications. */
  constructor(data: Record<string, unknown> = {}) {
    const state = newState(data);
    super(state);
    this.#state = state;
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
    return this.#state.lifetime.maxAge;
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
    const state = this.#state;
    state.lifetime = {
      maxAge: seconds ?? undefined,
      persistent: persistent ?? state.lifetime.persistent,
    };
    state.lifetimeChanged = true;
    changedNow(state);
    return this;
  }

  /**
   * The session cookie, as express-session describes it (read-only):
   * `maxAge` (ms left), `expires`, `originalMaxAge`, `httpOnly`, `secure`,
   * `sameSite`, `path`, `domain`. The lifetime is set by the module's options.
   */
  get cookie(): SessionCookie {
    return this.#calls().cookie(this.#state.context) as SessionCookie;
  }

  /** A copy of the value under `key`, or `fallback` (else `undefined`) when absent. */
  get<K extends keyof T>(key: K): T[K] | undefined;
  get<K extends keyof T>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T>(key: K, fallback?: T[K]): T[K] | undefined {
    const name = String(key);
    const data = this.#state.data;
    return Object.hasOwn(data, name) ? copyJson(data[name] as T[K]) : fallback;
  }

  /**
   * Stores a copy of `value` under `key`. Throws a `SessionValueError` naming
   * the key (and the path inside the value) when the value would not come back
   * from JSON as it went in (a `Map`, a class instance without `toJSON`, a
   * function, an array hole…) or the key is reserved; the session is then
   * unchanged.
   */
  set<K extends keyof T>(key: K, value: T[K]): this {
    setValue(this.#state, key, value, false);
    return this;
  }

  /** True when `key` holds a value. */
  has(key: keyof T): boolean {
    return Object.hasOwn(this.#state.data, String(key));
  }

  /** Removes `key`; true when it was there. */
  delete(key: keyof T): boolean {
    return deleteValue(this.#state, String(key));
  }

  /** Removes every key. A stored session emptied this way is deleted and its cookie cleared. */
  clear(): void {
    for (const name of Object.keys(this.#state.data)) deleteValue(this.#state, name);
  }

  /** The keys that hold a value. */
  keys(): (keyof T)[] {
    return Object.keys(this.#state.data) as (keyof T)[];
  }

  /** A copy of all values. */
  toJSON(): Partial<T> {
    return copyJson(this.#state.data) as Partial<T>;
  }

  /**
   * express-session's `regenerate`: the stored record is deleted and
   * `request.session` becomes a new, empty session (a new object, with a new
   * id once it is saved); then `callback`. Passport calls it at login and
   * logout. To keep the data, use `SessionService.regenerate(request)`.
   */
  regenerate(callback?: SessionCallback): this {
    this.#calls().regenerate(this.#state.context, callback ?? noop);
    return this;
  }

  /** express-session's `save`: saves what changed now, then `callback`. */
  save(callback?: SessionCallback): this {
    this.#calls().save(this.#state.context, callback ?? noop);
    return this;
  }

  /**
   * express-session's `destroy`: the record is deleted and the cookie
   * cleared, then `callback`. This session becomes new and empty (it stays
   * `request.session`, where express-session leaves `undefined`).
   */
  destroy(callback?: SessionCallback): this {
    this.#calls().destroy(this.#state.context, callback ?? noop);
    return this;
  }

  /**
   * express-session's `reload`: reads the stored data again, dropping
   * unsaved changes, then `callback` (with an error when the record is gone;
   * the session is then new and empty).
   */
  reload(callback?: SessionCallback): this {
    this.#calls().reload(this.#state.context, callback ?? noop);
    return this;
  }

  /**
   * express-session's `touch`, kept so that code calling it still runs: it
   * changes nothing here. With `rolling`, every request that loads the
   * session extends it by `maxAge` already; without it, the expiry is fixed
   * at creation.
   */
  touch(): this {
    return this;
  }

  #calls(): SessionCalls {
    const calls = this.#state.calls;
    if (!calls) throw new Error(messages.sessionNotBound());
    return calls;
  }
}

// Made once the class exists: its own names are not data keys.
const handler = accessHandler(reservedNames(Session.prototype)) as ProxyHandler<object>;

function noop(): void {}

/**
 * @internal What the store and the request layer need of a `Session` beyond
 * its public methods: its data (no copy), its change set, and a listener for
 * the first change. Reachable only inside the package.
 */
export interface SessionInternals {
  data(session: Session): Readonly<Record<string, unknown>>;
  changed(session: Session): ReadonlySet<string>;
  deleted(session: Session): ReadonlySet<string>;
  lifetime(session: Session): Readonly<SessionLifetime>;
  lifetimeChanged(session: Session): boolean;
  /** Sets the lifetime a stored record has, without counting it as a change. */
  restoreLifetime(session: Session, lifetime: SessionLifetime): void;
  /** Forgets what changed: the current state is saved. */
  saved(session: Session): void;
  /** Turns the session into a new one, without an id: empty, or holding `data` (unchanged). */
  reset(session: Session, data?: Record<string, unknown>): void;
  /** Calls `listener` once, on the next change. */
  onChange(session: Session, listener: (() => void) | undefined): void;
  /** Ties the express-session methods to a request (`calls` undefined: to none). */
  bind(session: Session, calls: SessionCalls | undefined, context?: unknown): void;
  /** Takes in changes made to live values (see `check`). */
  reconcile(session: Session): void;
  /** Takes in changes made to live values; throws when one can no longer be stored. */
  check(session: Session): void;
}

/** @internal */
export function sessionInternals(): SessionInternals {
  return internals;
}

/** @internal True when `session` changed since it was loaded or last saved. */
export function isModified(session: Session): boolean {
  const changed = internals.changed(session);
  const deleted = internals.deleted(session);
  if (changed.size === 0 && deleted.size === 0) internals.reconcile(session);
  return changed.size > 0 || deleted.size > 0 || internals.lifetimeChanged(session);
}
