import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import {
  applyDelta,
  hasNativeTouch,
  type SessionBackend,
  type SessionData,
  type SessionDelta,
} from './backends/session-backend.js';
import { META_KEY, REQUEST_STATE, SESSION_OPTIONS } from './session.constants.js';
import {
  cookieHeaderOf,
  responseOf,
  type SessionRequest,
  type SessionResponse,
} from './session.http.js';
import { readCookie, serializeCookie } from './session.cookie.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';
import {
  newSessionId,
  SessionSigner,
  storageKeyOf,
  type UnsignedCookie,
} from './session.signer.js';
import { Session } from './session.js';

/** What the module keeps in every stored record besides the application's keys. */
interface RecordMeta {
  /** Created, ms since the epoch. */
  c: number;
  /** Expires, ms since the epoch (server-side check, whatever the store's TTL says). */
  e: number;
  /** When the user index entry was last refreshed (only with `userKey`). */
  i?: number;
}

/**
 * One of a user's sessions, as `SessionService.listSessions` reports it. The
 * `handle` identifies the session for `destroySession`; it is derived from the
 * storage key (a digest), never the session id, so showing it to the user is
 * safe.
 */
export interface UserSession {
  readonly handle: string;
  readonly createdAt: Date;
  /** When it ends unless used again; with `rolling`, last use + `maxAge`. */
  readonly expiresAt: Date;
  /** True for the session of the request passed to `listSessions`. */
  readonly current: boolean;
}

/** A cookie whose signature verified, with the storage key of its id. */
interface VerifiedCookie extends UnsignedCookie {
  storageKey: string;
}

const VERIFIED_CACHE_SIZE = 10_000;

/** Per-request bookkeeping, kept on the request under a symbol. */
interface RequestState {
  loading: Promise<Session>;
  session?: Session;
  /** The Node request underneath (Fastify's `request.raw`), where this state lives. */
  holder: SessionRequest;
  /** Resolved on first use: Fastify links a request to its reply only in a hook. */
  response?: SessionResponse;
  /** Work pending for the save step: a rolling refresh that still has to reach the store. */
  touchPending: boolean;
  /** The record's metadata and the user index entry are due for a refresh. */
  refreshPending: boolean;
  /** Hooks on the response are installed (once). */
  hooked: boolean;
  /** The last save failed: don't try again for this request. */
  failed: boolean;
  /**
   * The interceptor saves before the response is written (the handler does
   * not write it itself): no need to hook the response.
   */
  managed: boolean;
  saving?: Promise<void>;
}

/**
 * Loads, saves, regenerates and destroys sessions. The interceptor uses it
 * around every handler; inject it where you need more:
 *
 * - in a guard or middleware, `await sessions.load(request)` (the session is
 *   read from the backend at most once per request, and is the same object
 *   the handler gets);
 * - after login, `await sessions.regenerate(request)` (new id, same data:
 *   protects against session fixation);
 * - on logout, `await sessions.destroy(request)`.
 *
 * @example
 * @Get('login')
 * async login(@Req() req: Request, @Session() session: Session) {
 *   session.set('userId', 123);
 *   await this.sessions.regenerate(req);
 * }
 */
@Injectable()
export class SessionService {
  private readonly logger = new Logger('Session');
  private readonly backend: SessionBackend;
  private readonly signer: SessionSigner;
  private readonly nativeTouch: boolean;
  private readonly verified = new Map<string, VerifiedCookie>();
  private warnedUserKey = false;

  constructor(@Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions) {
    this.backend = options.backend;
    this.signer = new SessionSigner(options.secretKeys);
    this.nativeTouch = hasNativeTouch(options.backend);
  }

  /**
   * The request's session, loaded from the backend on the first call and
   * cached on the request. Rejects with a 503 `ServiceUnavailableException`
   * when the backend fails.
   */
  load(request: object): Promise<Session> {
    const req = request as SessionRequest;
    const state = this.existing(req);
    return state ? state.loading : this.begin(req).loading;
  }

  /**
   * @internal The request's session when it is at hand without asking the
   * backend (already loaded, or the request carries no valid session cookie);
   * undefined while it still has to be read.
   */
  loadNow(request: object): Session | undefined {
    const req = request as SessionRequest;
    const state = this.existing(req);
    return state ? state.session : this.begin(req).session;
  }

  /** The state of a request seen before, attaching its session to this request object too. */
  private existing(req: SessionRequest): RequestState | undefined {
    const state = holderOf(req)[REQUEST_STATE] as RequestState | undefined;
    if (state && req.session === undefined) {
      if (state.session) req.session = state.session;
      else state.loading.then((session) => (req.session = session), noop);
    }
    return state;
  }

  private begin(req: SessionRequest): RequestState {
    const holder = holderOf(req);
    const state: RequestState = {
      loading: undefined as unknown as Promise<Session>,
      holder,
      touchPending: false,
      refreshPending: false,
      hooked: false,
      failed: false,
      managed: false,
    };
    holder[REQUEST_STATE] = state;
    const value = readCookie(cookieHeaderOf(req), this.options.cookieName);
    const cookie = value === undefined ? undefined : this.verify(value);
    if (cookie) {
      state.loading = this.read(req, state, value!, cookie);
    } else {
      // No session cookie worth asking the backend about: a new session, now.
      const session = new Session();
      this.attach(req, state, session);
      this.watch(state, session);
      state.loading = Promise.resolve(session);
    }
    return state;
  }

  /**
   * Checks a cookie's signature, remembering values that verified: a
   * returning browser sends the same value on every request, and the HMAC and
   * the storage-key digest need computing only once. Only values that
   * verified are kept, at most `VERIFIED_CACHE_SIZE` of them.
   */
  private verify(value: string): VerifiedCookie | undefined {
    const cached = this.verified.get(value);
    if (cached) return cached;
    const cookie = this.signer.unsign(value);
    if (!cookie) return undefined;
    const verified = { ...cookie, storageKey: storageKeyOf(cookie.id) };
    // Starting over when full is cheaper than keeping an order (and churning the Map).
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
    this.verified.set(value, verified);
    return verified;
  }

  /**
   * Gives the session a new id, keeping its data (and its first creation
   * time, which `absoluteTimeout` counts from): the old record is deleted and
   * a new cookie is set. Call it right after login.
   *
   * When the session was ended meanwhile by another request (`destroy`,
   * `destroyAllSessions`, `destroySession`), nothing is stored: it resolves
   * to the request's session reset to a new, empty one (`isNew` true), so a
   * logout is never undone by a login that was already running.
   */
  async regenerate(request: object): Promise<Session> {
    const session = await this.load(request);
    const state = this.stateOf(request);
    const oldKey = session._stored ? session._storageKey : undefined;
    const oldOwner = session._owner;
    try {
      if (session.keys().length === 0) {
        if (oldKey) {
          await this.end(oldOwner, [oldKey]);
          this.clearCookie(state);
        }
        this.forget(state, session);
        return session;
      }
      const id = newSessionId();
      const storageKey = storageKeyOf(id);
      const now = Date.now();
      const createdAt = oldKey ? session._createdAt : now;
      const expiresAt = this.expiry(createdAt, now);
      const ttl = this.ttlUntil(expiresAt, now);
      const owner = this.ownerOf(session);
      // Indexed before it exists: a failure in between leaves a dead entry
      // (pruned later), never a live session that "log out everywhere" misses.
      await this.index(owner, storageKey, createdAt);
      const meta: RecordMeta = { c: createdAt, e: expiresAt, i: owner ? now : undefined };
      if (oldKey) {
        // What is stored moves, with this request's changes: what other
        // requests changed meanwhile is kept.
        const delta = this.deltaOf(session, meta);
        // The user is who this request says: the index entry below is made
        // from this request's copy, so the record must name the same user.
        const { userKey } = this.options;
        if (userKey !== undefined) {
          if (Object.hasOwn(session._data, userKey)) {
            defineValue(delta.set as Record<string, unknown>, userKey, session._data[userKey]);
          } else if (!delta.unset.includes(userKey)) {
            (delta.unset as string[]).push(userKey);
          }
        }
        if (!(await this.relocate(oldKey, storageKey, delta, ttl))) {
          await this.unindex(owner, storageKey);
          await this.unindex(oldOwner, oldKey);
          this.forget(state, session);
          return session;
        }
        await this.unindex(oldOwner, oldKey);
      } else {
        await this.backend.write(storageKey, this.record(session, meta), ttl);
      }
      session._id = id;
      session._storageKey = storageKey;
      session._createdAt = createdAt;
      session._expiresAt = expiresAt;
      session._owner = owner;
      session._indexedAt = now;
      session._saved();
      state.touchPending = false;
      state.refreshPending = false;
      this.watch(state, session);
      this.setCookie(state, this.signer.sign(id), ttl);
      return session;
    } catch (error) {
      state.failed = true;
      throw this.unavailable('regenerate', error, messages.saveFailed());
    }
  }

  /**
   * Ends the session: its record is deleted, its cookie cleared, and
   * `request.session` becomes a new, empty session.
   */
  async destroy(request: object): Promise<void> {
    const session = await this.load(request);
    const state = this.stateOf(request);
    if (session._stored) {
      try {
        await this.end(session._owner, [session._storageKey]);
      } catch (error) {
        state.failed = true;
        throw this.unavailable('destroy', error, messages.saveFailed());
      }
    }
    if (
      session._stored ||
      readCookie(cookieHeaderOf(request as SessionRequest), this.options.cookieName)
    ) {
      this.clearCookie(state);
    }
    this.forget(state, session);
  }

  /**
   * The live sessions of a user (by the value the `userKey` option names),
   * newest first. Pass the current request to have its session marked
   * `current`. Needs the `userKey` option.
   *
   * @example
   * @Get('devices')
   * devices(@Req() req: Request, @Session('userId') userId: number) {
   *   return this.sessions.listSessions(userId, req);
   * }
   */
  async listSessions(user: unknown, request?: object): Promise<UserSession[]> {
    const owner = this.requireOwner(user);
    const current = request ? await this.currentKey(request) : undefined;
    let entries;
    try {
      entries = await this.backend.indexList!(owner);
    } catch (error) {
      throw this.unavailable('list', error, messages.loadFailed());
    }
    return entries
      .map((entry) => ({
        handle: entry.id,
        createdAt: new Date(entry.createdAt),
        expiresAt: new Date(entry.expiresAt),
        current: entry.id === current,
      }))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /**
   * Ends every session of a user ("log out everywhere"), optionally except
   * the session of the request given as `except`. Resolves to how many
   * sessions were ended. Needs the `userKey` option.
   *
   * @example
   * await this.sessions.destroyAllSessions(userId, { except: req }); // after a password change
   */
  async destroyAllSessions(user: unknown, options: { except?: object } = {}): Promise<number> {
    const owner = this.requireOwner(user);
    const keep = options.except ? await this.currentKey(options.except) : undefined;
    try {
      const entries = await this.backend.indexList!(owner);
      const ids = entries.map((entry) => entry.id).filter((id) => id !== keep);
      await this.end(owner, ids);
      return ids.length;
    } catch (error) {
      throw this.unavailable('destroy', error, messages.saveFailed());
    }
  }

  /**
   * Ends one session of a user, by the `handle` that `listSessions` gave.
   * Resolves to false when the handle is not one of this user's live
   * sessions (so a user can only end their own). Needs the `userKey` option.
   */
  async destroySession(user: unknown, handle: string): Promise<boolean> {
    const owner = this.requireOwner(user);
    try {
      const entries = await this.backend.indexList!(owner);
      if (!entries.some((entry) => entry.id === handle)) return false;
      await this.end(owner, [handle]);
      return true;
    } catch (error) {
      throw this.unavailable('destroy', error, messages.saveFailed());
    }
  }

  /**
   * @internal The interceptor will save this request's session itself before
   * the response is written, so the response needs no hook.
   */
  manage(request: object): void {
    const state = this.stateOf(request) as RequestState | undefined;
    if (state && !state.hooked) state.managed = true;
  }

  /**
   * @internal Saves what changed. Called by the interceptor after the
   * handler, and by the response hook when the response ends first. Rejects
   * with a 503 when the backend fails.
   */
  commit(request: object): Promise<void> {
    const state = this.stateOf(request) as RequestState | undefined;
    if (!state) return Promise.resolve();
    // From here on, a change (by an exception filter, an outer interceptor)
    // arms the response hook, so it is saved before the response goes out.
    state.managed = false;
    return this.commitState(state);
  }

  private async read(
    request: SessionRequest,
    state: RequestState,
    value: string,
    cookie: VerifiedCookie,
  ): Promise<Session> {
    const { storageKey } = cookie;
    const { rolling, maxAge } = this.options;
    const touching = rolling && this.backend.readAndTouch !== undefined;
    let record: SessionData | null;
    try {
      record = touching
        ? await this.backend.readAndTouch!(storageKey, maxAge)
        : await this.backend.read(storageKey);
    } catch (error) {
      throw this.unavailable('load', error, messages.loadFailed());
    }
    const now = Date.now();
    const meta = record === null ? undefined : this.metaOf(record, storageKey);
    if (meta && record && !this.expired(meta, now)) {
      const data: Record<string, unknown> = { ...record };
      delete data[META_KEY];
      const loaded = new Session(data);
      loaded._id = cookie.id;
      loaded._storageKey = storageKey;
      loaded._createdAt = meta.c;
      loaded._expiresAt = rolling ? this.expiry(meta.c, now) : meta.e;
      loaded._stored = true;
      loaded._owner = this.ownerOf(loaded);
      loaded._indexedAt = meta.i ?? 0;
      state.refreshPending = loaded._owner !== undefined && this.indexStale(loaded._indexedAt, now);
      this.attach(request, state, loaded);
      const ttl = this.ttlUntil(loaded._expiresAt, now);
      if (rolling) {
        // readAndTouch extended the record by maxAge; near absoluteTimeout that
        // is too far, and the save step shortens it again.
        state.touchPending = !touching || ttl < maxAge;
        this.setCookie(state, cookie.keyIndex === 0 ? value : this.signer.sign(cookie.id), ttl);
      } else if (cookie.keyIndex > 0) {
        // Verified by an older key: re-issue it under the current one.
        this.setCookie(state, this.signer.sign(cookie.id), ttl);
      }
      this.watch(state, loaded);
      return loaded;
    }
    // Expired or unusable: removed with its index entry, so nothing is left
    // that its cookie could reach or that "log out everywhere" would miss.
    if (record !== null) await this.discard(storageKey, record);
    const session = new Session();
    this.attach(request, state, session);
    this.watch(state, session);
    return session;
  }

  private async save(state: RequestState, session: Session): Promise<void> {
    const backend = this.backend;
    const now = Date.now();
    try {
      if (!session._stored) {
        if (!session._modified) return;
        if (session.keys().length === 0) {
          session._clean();
          return;
        }
        if (!session._id) {
          // Its cookie can no longer be sent: nobody could reach the record.
          if (this.responseFor(state)?.headersSent) {
            this.logger.warn(messages.cookieTooLate());
            session._clean();
            return;
          }
          this.assignId(session);
        }
        const expiresAt = this.expiry(now, now);
        const ttl = this.ttlUntil(expiresAt, now);
        const owner = this.ownerOf(session);
        await this.index(owner, session._storageKey, now);
        const meta = { c: now, e: expiresAt, i: owner ? now : undefined };
        await backend.write(session._storageKey, this.record(session, meta), ttl);
        session._createdAt = now;
        session._expiresAt = expiresAt;
        session._owner = owner;
        session._indexedAt = now;
        session._saved();
        this.setCookie(state, this.signer.sign(session._id), ttl);
        return;
      }
      const key = session._storageKey;
      if (session._modified && session.keys().length === 0) {
        await this.end(session._owner, [key]);
        this.clearCookie(state);
        session._reset();
        return;
      }
      // Without rolling the expiry is fixed at creation; with it, it slides.
      const expiresAt = this.options.rolling
        ? this.expiry(session._createdAt, now)
        : session._expiresAt;
      const ttl = this.ttlUntil(expiresAt, now);
      if (!session._modified && !state.refreshPending) {
        if (state.touchPending) {
          // Never the data this request loaded: a logout or another request's
          // change that completed meanwhile must not be undone.
          await backend.touch(key, ttl);
          session._expiresAt = expiresAt;
          state.touchPending = false;
        }
        return;
      }
      // A change, or metadata due for a refresh: write only what changed.
      const owner = this.ownerOf(session);
      const reindex =
        owner !== undefined &&
        (owner !== session._owner ||
          state.refreshPending ||
          this.indexStale(session._indexedAt, now));
      if (reindex) await this.index(owner, key, session._createdAt);
      const indexedAt = reindex ? now : session._indexedAt;
      const meta: RecordMeta = {
        c: session._createdAt,
        e: expiresAt,
        i: owner ? indexedAt : undefined,
      };
      if (!(await this.update(session, meta, ttl))) {
        // Ended by another request meanwhile (or unreadable, and removed):
        // don't bring it back. The cookie is left alone: a dead id is
        // harmless, and the browser may hold a newer cookie by now.
        await this.unindex(owner, key);
        if (session._owner !== owner) await this.unindex(session._owner, key);
        session._reset();
        state.touchPending = false;
        state.refreshPending = false;
        return;
      }
      if (session._owner !== undefined && session._owner !== owner)
        await this.unindex(session._owner, key);
      session._owner = owner;
      session._indexedAt = indexedAt;
      session._expiresAt = expiresAt;
      session._saved();
      state.touchPending = false;
      state.refreshPending = false;
    } catch (error) {
      state.failed = true;
      throw this.unavailable('save', error, messages.saveFailed());
    } finally {
      this.watch(state, session);
    }
  }

  /**
   * Writes a stored session's changes and new metadata; false when its record
   * is gone. With `patch`, only the changed keys, atomically. Without it, the
   * record is re-read and the changes applied to what is stored now, so the
   * window in which another request's change or a logout can be lost shrinks
   * from the whole request to one round trip.
   */
  private async update(session: Session, meta: RecordMeta, ttl: number): Promise<boolean> {
    const key = session._storageKey;
    const delta = this.deltaOf(session, meta);
    if (this.backend.patch) return this.backend.patch(key, delta, ttl);
    const current = await this.backend.read(key);
    if (current === null || !this.metaOf(current, key)) return false;
    await this.backend.write(key, applyDelta(current, delta), ttl);
    return true;
  }

  /**
   * Moves a stored session to a new storage key, only if its record still
   * exists; false when it does not.
   */
  private async relocate(
    oldKey: string,
    newKey: string,
    delta: SessionDelta,
    ttl: number,
  ): Promise<boolean> {
    if (this.backend.move) return this.backend.move(oldKey, newKey, delta, ttl);
    const current = await this.backend.read(oldKey);
    if (current === null || !this.metaOf(current, oldKey)) return false;
    await this.backend.destroy(oldKey);
    await this.backend.write(newKey, applyDelta(current, delta), ttl);
    return true;
  }

  /** This request's changes to a stored session, with its new metadata. */
  private deltaOf(session: Session, meta: RecordMeta): SessionDelta {
    if (meta.i === undefined) delete meta.i;
    const set: Record<string, unknown> = { [META_KEY]: meta };
    for (const name of session._changed) defineValue(set, name, session._data[name]);
    return { set, unset: [...session._deleted] };
  }

  /** Deletes sessions with their index entries, in as few round trips as the backend allows. */
  private async end(owner: string | undefined, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (owner !== undefined && this.backend.indexDestroy) {
      await this.backend.indexDestroy(owner, keys);
      return;
    }
    await Promise.all(
      keys.map(async (key) => {
        await this.backend.destroy(key);
        await this.unindex(owner, key);
      }),
    );
  }

  /** Makes the request's session a new, empty one, with nothing left to save. */
  private forget(state: RequestState, session: Session): void {
    session._reset();
    state.touchPending = false;
    state.refreshPending = false;
    this.watch(state, session);
  }

  /** Digest of the user key's value: what the index is keyed by (no user ids in key names). */
  private ownerOf(session: Session): string | undefined {
    return this.ownerOfData(session._data);
  }

  /** The same, for the data of a record (or of a session). */
  private ownerOfData(data: unknown): string | undefined {
    const userKey = this.options.userKey;
    if (userKey === undefined || data === null || typeof data !== 'object') return undefined;
    if (!Object.hasOwn(data, userKey)) return undefined;
    const value = (data as Record<string, unknown>)[userKey];
    if (value === null) return undefined;
    if (isUserId(value)) return ownerDigest(value);
    if (!this.warnedUserKey) {
      this.warnedUserKey = true;
      this.logger.warn(messages.userKeyValueNotIndexed(userKey, value));
    }
    return undefined;
  }

  private requireOwner(user: unknown): string {
    const userKey = this.options.userKey;
    if (userKey === undefined) throw new Error(messages.userKeyNotSet());
    if (!isUserId(user)) throw new TypeError(messages.invalidUser(userKey, user));
    return ownerDigest(user);
  }

  /** The storage key of the request's session, if it is stored. */
  private async currentKey(request: object): Promise<string | undefined> {
    const session = await this.load(request);
    return session._stored ? session._storageKey : undefined;
  }

  /**
   * The index entry must outlive the session: it is kept for twice `maxAge`
   * and refreshed once half of `maxAge` has passed, so a session (extended
   * by at most `maxAge` per request) always ends before its entry does.
   */
  private indexStale(indexedAt: number, now: number): boolean {
    return now - indexedAt > (this.options.maxAge * 1000) / 2;
  }

  private async index(owner: string | undefined, key: string, createdAt: number): Promise<void> {
    if (owner !== undefined)
      await this.backend.indexAdd!(owner, key, createdAt, Math.ceil(this.options.maxAge * 2));
  }

  private async unindex(owner: string | undefined, key: string): Promise<void> {
    if (owner !== undefined) await this.backend.indexRemove!(owner, key);
  }

  /**
   * Synchronous part of saving, safe to run just before headers go out: gives
   * a new session its id and cookie, or clears the cookie of an emptied one.
   */
  private prepareHeaders(state: RequestState, session: Session): void {
    if (!session._modified || state.failed) return;
    if (!session._stored && session.keys().length > 0 && !session._id) {
      this.assignId(session);
      const now = Date.now();
      this.setCookie(
        state,
        this.signer.sign(session._id),
        this.ttlUntil(this.expiry(now, now), now),
      );
    } else if (session._stored && session.keys().length === 0) {
      this.clearCookie(state);
    }
  }

  private assignId(session: Session): void {
    session._id = newSessionId();
    session._storageKey = storageKeyOf(session._id);
  }

  /**
   * Arms the response hook the first time there is something to save, so
   * that requests which never change their session pay nothing for it.
   */
  private watch(state: RequestState, session: Session): void {
    if (state.hooked) return;
    if (session._modified || state.touchPending || state.refreshPending) {
      this.hook(state, session);
      return;
    }
    session._onChange = () => this.hook(state, session);
  }

  private hook(state: RequestState, session: Session): void {
    if (state.hooked || state.managed) return;
    const response = this.responseFor(state);
    if (!response) return;
    state.hooked = true;
    response.guard(
      () => this.prepareHeaders(state, session),
      () => this.commitState(state),
      messages.saveFailed(),
    );
  }

  private commitState(state: RequestState): Promise<void> {
    if (!state.session || state.failed) return Promise.resolve();
    const { session } = state;
    if (!session._modified && !state.touchPending && !state.refreshPending) {
      return state.saving ?? Promise.resolve();
    }
    const saving = (state.saving ?? Promise.resolve()).then(() => this.save(state, session));
    state.saving = saving.catch(() => undefined);
    return saving;
  }

  private record(session: Session, meta: RecordMeta): SessionData {
    if (meta.i === undefined) delete meta.i;
    return { ...session._data, [META_KEY]: meta };
  }

  /**
   * When a session created at `createdAt` expires if it is (re)written or
   * extended now: `maxAge` from now, capped by `absoluteTimeout` from its
   * first creation.
   */
  private expiry(createdAt: number, now: number): number {
    const { maxAge, absoluteTimeout } = this.options;
    const sliding = now + maxAge * 1000;
    return absoluteTimeout === undefined
      ? sliding
      : Math.min(sliding, createdAt + absoluteTimeout * 1000);
  }

  /** Store TTL and cookie Max-Age, in whole seconds (at least 1), until `expiresAt`. */
  private ttlUntil(expiresAt: number, now: number): number {
    return Math.max(1, Math.ceil((expiresAt - now) / 1000));
  }

  private expired(meta: RecordMeta, now: number): boolean {
    const { absoluteTimeout, rolling } = this.options;
    if (absoluteTimeout !== undefined && now >= meta.c + absoluteTimeout * 1000) return true;
    // With rolling on a backend that refreshes TTLs itself, the sliding window
    // is the store's TTL; the record's own expiry is the one of its last write.
    if (rolling && this.nativeTouch) return false;
    return now >= meta.e;
  }

  private metaOf(record: SessionData, storageKey: string): RecordMeta | undefined {
    const meta = (record !== null && typeof record === 'object' ? record[META_KEY] : undefined) as
      Partial<RecordMeta> | undefined;
    if (meta && Number.isFinite(meta.c) && Number.isFinite(meta.e)) return meta as RecordMeta;
    this.logger.warn(messages.corruptRecord(storageKey));
    return undefined;
  }

  /**
   * Best-effort removal of an expired or unusable record, with its index
   * entry when the record still names its user; the session is new either way.
   */
  private async discard(storageKey: string, record: SessionData): Promise<void> {
    try {
      await this.end(this.ownerOfData(record), [storageKey]);
    } catch (error) {
      this.logger.warn(`Could not remove an expired session: ${(error as Error).message}`);
    }
  }

  private setCookie(state: RequestState, value: string, maxAge: number): void {
    this.responseFor(state)?.setCookie(
      this.options.cookieName,
      serializeCookie(this.options, value, maxAge),
    );
  }

  private clearCookie(state: RequestState): void {
    this.setCookie(state, '', 0);
  }

  private attach(request: SessionRequest, state: RequestState, session: Session): void {
    state.session = session;
    request.session = session;
    if (state.holder !== request) state.holder.session = session;
  }

  private responseFor(state: RequestState): SessionResponse | undefined {
    return (state.response ??= responseOf(state.holder));
  }

  private stateOf(request: object): RequestState {
    const req = request as SessionRequest;
    return holderOf(req)[REQUEST_STATE] as RequestState;
  }

  private unavailable(step: string, error: unknown, message: string): ServiceUnavailableException {
    if (error instanceof ServiceUnavailableException) return error;
    this.logger.error(
      `Session ${step} failed: ${(error as Error)?.message ?? String(error)}`,
      (error as Error)?.stack,
    );
    return new ServiceUnavailableException(message);
  }
}

/** What a user key may hold to be indexed: a string or a finite number (compared as JSON). */
function isUserId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * Sets an own property, also for the name "__proto__" (plain assignment
 * would change the object's prototype instead).
 */
function defineValue(target: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(target, name, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

function ownerDigest(user: string | number): string {
  return createHash('sha256')
    .update(`user:${JSON.stringify(user)}`)
    .digest('base64url');
}

function noop(): void {}

/**
 * Where a request's state lives. Fastify hands middleware the Node request and
 * handlers its wrapper: keeping the state on the Node request lets both see
 * one session.
 */
function holderOf(request: SessionRequest): SessionRequest {
  return (request.raw as SessionRequest | undefined) ?? request;
}
