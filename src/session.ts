import type { SessionData } from './backends/session-backend.js';
import { accessHandler, reservedNames } from './session.access.js';
import { MAX_COOKIE_MAX_AGE } from './session.constants.js';
import type { SessionCookie } from './session.cookie-view.js';
import { copyJson } from './session.json.js';
import { messages } from './session.messages.js';
import { recordOf } from './session.record.js';
import { st } from './session.internals.js';
import {
  lifetimeChangedNow,
  deleteValue,
  newState,
  setValue,
  STATE,
  type SessionCallback,
  type SessionCalls,
  type SessionState,
} from './session.state.js';

export type { SessionLifetime } from './session.state.js';
export { isModified, sessionInternals, type SessionInternals } from './session.internals.js';

/**
 * Makes every session a proxy over itself, with one handler shared by all
 * sessions. The state sits on the target under a module-private symbol
 * rather than in private fields: V8 reaches a private field on a proxy
 * several times slower than a property through the handler.
 */
class SessionBase {
  constructor(state: SessionState) {
    // Assigned, not defined: defineProperty costs several times more here.
    (this as { [STATE]?: SessionState })[STATE] = state;
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
  /** @internal Sessions are made by `SessionService`, not by applications. */
  constructor(data: Record<string, unknown> = {}) {
    super(newState(data));
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
    return st(this).lifetime.maxAge;
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
    const state = st(this);
    state.lifetime = {
      maxAge: seconds ?? undefined,
      persistent: persistent ?? state.lifetime.persistent,
    };
    lifetimeChangedNow(state);
    return this;
  }

  /**
   * The session cookie, as express-session describes it (read-only):
   * `maxAge` (ms left), `expires`, `originalMaxAge`, `httpOnly`, `secure`,
   * `sameSite`, `path`, `domain`. The lifetime is set by the module's options.
   */
  get cookie(): SessionCookie {
    return callsOf(this).cookie(st(this).context) as SessionCookie;
  }

  /** A copy of the value under `key`, or `fallback` (else `undefined`) when absent. */
  get<K extends keyof T>(key: K): T[K] | undefined;
  get<K extends keyof T>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T>(key: K, fallback?: T[K]): T[K] | undefined {
    const name = String(key);
    const data = st(this).data;
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
    setValue(st(this), key, value, false);
    return this;
  }

  /** True when `key` holds a value. */
  has(key: keyof T): boolean {
    return Object.hasOwn(st(this).data, String(key));
  }

  /** Removes `key`; true when it was there. */
  delete(key: keyof T): boolean {
    return deleteValue(st(this), String(key));
  }

  /** Removes every key. A stored session emptied this way is deleted and its cookie cleared. */
  clear(): void {
    for (const name of Object.keys(st(this).data)) deleteValue(st(this), name);
  }

  /** The keys that hold a value. */
  keys(): (keyof T)[] {
    return Object.keys(st(this).data) as (keyof T)[];
  }

  /** A copy of all values. */
  toJSON(): Partial<T> {
    return copyJson(st(this).data) as Partial<T>;
  }

  /**
   * express-session's `regenerate`: the stored record is deleted and
   * `request.session` becomes a new, empty session (a new object, with a new
   * id once it is saved); then `callback`. Passport calls it at login and
   * logout. To keep the data, use `SessionService.regenerate(request)`.
   */
  regenerate(callback?: SessionCallback): this {
    callsOf(this).regenerate(st(this).context, callback ?? noop);
    return this;
  }

  /** express-session's `save`: saves what changed now, then `callback`. */
  save(callback?: SessionCallback): this {
    callsOf(this).save(st(this).context, callback ?? noop);
    return this;
  }

  /**
   * express-session's `destroy`: the record is deleted and the cookie
   * cleared, then `callback`. This session becomes new and empty (it stays
   * `request.session`, where express-session leaves `undefined`).
   */
  destroy(callback?: SessionCallback): this {
    callsOf(this).destroy(st(this).context, callback ?? noop);
    return this;
  }

  /**
   * express-session's `reload`: reads the stored data again, dropping
   * unsaved changes, then `callback` (with an error when the record is gone;
   * the session is then new and empty).
   */
  reload(callback?: SessionCallback): this {
    callsOf(this).reload(st(this).context, callback ?? noop);
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

  /** What `console.log(session)` shows: its data (not its bookkeeping). */
  [Symbol.for('nodejs.util.inspect.custom')](): unknown {
    return this.toJSON();
  }
}

// Made once the class exists: its own names are not data keys.
const handler = accessHandler(reservedNames(Session.prototype)) as ProxyHandler<object>;

function noop(): void {}

/** The express-session methods' implementation for the session's request. */
function callsOf(session: object): SessionCalls {
  const calls = st(session).calls;
  if (!calls) throw new Error(messages.sessionNotBound());
  return calls;
}
