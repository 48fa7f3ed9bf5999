import {
  Inject,
  Injectable,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import { hasNativeTouch, type SessionBackend, type SessionData } from './backends/session-backend.js';
import { META_KEY, REQUEST_STATE, SESSION_OPTIONS } from './session.constants.js';
import { cookieHeaderOf, responseOf, type SessionRequest, type SessionResponse } from './session.http.js';
import { readCookie, serializeCookie } from './session.cookie.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { newSessionId, SessionSigner, storageKeyOf } from './session.signer.js';
import { Session } from './session.js';

/** What the module keeps in every stored record besides the application's keys. */
interface RecordMeta {
  /** Created, ms since the epoch. */
  c: number;
  /** Expires, ms since the epoch (server-side check, whatever the store's TTL says). */
  e: number;
}

/** Per-request bookkeeping, kept on the request under a symbol. */
interface RequestState {
  loading: Promise<Session>;
  session?: Session;
  response?: SessionResponse;
  /** Work pending for the save step: a rolling refresh that still has to reach the store. */
  touchPending: boolean;
  /** Hooks on the response are installed (once). */
  hooked: boolean;
  /** The last save failed: don't try again for this request. */
  failed: boolean;
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
    const state = req[REQUEST_STATE] as RequestState | undefined;
    if (state) return state.loading;
    const fresh: RequestState = {
      loading: undefined as unknown as Promise<Session>,
      touchPending: false,
      hooked: false,
      failed: false,
    };
    req[REQUEST_STATE] = fresh;
    fresh.loading = this.read(req, fresh);
    return fresh.loading;
  }

  /**
   * Gives the session a new id, keeping its data: the old record is deleted
   * and a new cookie is set. Call it right after login.
   */
  async regenerate(request: object): Promise<Session> {
    const session = await this.load(request);
    const state = this.stateOf(request);
    const oldKey = session._stored ? session._storageKey : undefined;
    try {
      if (session.keys().length === 0) {
        if (oldKey) await this.backend.destroy(oldKey);
        if (oldKey) this.clearCookie(state);
        session._reset();
        return session;
      }
      const id = newSessionId();
      const storageKey = storageKeyOf(id);
      const now = Date.now();
      const ttl = this.ttl(now, now);
      const record = this.record(session, now, now + ttl * 1000);
      if (oldKey && this.backend.rename) {
        await this.backend.rename(oldKey, storageKey, record, ttl);
      } else {
        await this.backend.write(storageKey, record, ttl);
        if (oldKey) await this.backend.destroy(oldKey);
      }
      session._id = id;
      session._storageKey = storageKey;
      session._createdAt = now;
      session._saved();
      state.touchPending = false;
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
        await this.backend.destroy(session._storageKey);
      } catch (error) {
        state.failed = true;
        throw this.unavailable('destroy', error, messages.saveFailed());
      }
    }
    if (session._stored || readCookie(cookieHeaderOf(request as SessionRequest), this.options.cookieName)) {
      this.clearCookie(state);
    }
    session._reset();
    state.touchPending = false;
    this.watch(state, session);
  }

  /**
   * @internal Saves what changed. Called by the interceptor after the
   * handler, and by the response hook when the response ends first. Rejects
   * with a 503 when the backend fails.
   */
  commit(request: object): Promise<void> {
    const state = (request as SessionRequest)[REQUEST_STATE] as RequestState | undefined;
    return state ? this.commitState(state) : Promise.resolve();
  }

  private async read(request: SessionRequest, state: RequestState): Promise<Session> {
    const session = new Session();
    const value = readCookie(cookieHeaderOf(request), this.options.cookieName);
    const cookie = value === undefined ? null : this.signer.unsign(value);
    if (cookie) {
      const storageKey = storageKeyOf(cookie.id);
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
        loaded._stored = true;
        state.session = loaded;
        request.session = loaded;
        state.response = responseOf(request);
        if (rolling) {
          state.touchPending = !touching;
          this.setCookie(state, cookie.keyIndex === 0 ? value! : this.signer.sign(cookie.id), this.ttl(meta.c, now));
        } else if (cookie.keyIndex > 0) {
          // Verified by an older key: re-issue it under the current one.
          this.setCookie(state, this.signer.sign(cookie.id), Math.max(1, Math.ceil((meta.e - now) / 1000)));
        }
        this.watch(state, loaded);
        return loaded;
      }
      if (meta) await this.discard(storageKey);
    }
    state.session = session;
    request.session = session;
    state.response = responseOf(request);
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
        this.prepareHeaders(state, session);
        const ttl = this.ttl(now, now);
        await backend.write(session._storageKey, this.record(session, now, now + ttl * 1000), ttl);
        session._createdAt = now;
        session._saved();
        this.setCookie(state, this.signer.sign(session._id), ttl);
        return;
      }
      const ttl = this.ttl(session._createdAt, now);
      if (session._modified && session.keys().length === 0) {
        await backend.destroy(session._storageKey);
        this.clearCookie(state);
        session._reset();
        return;
      }
      if (session._modified) {
        const meta: RecordMeta = { c: session._createdAt, e: now + ttl * 1000 };
        if (backend.patch) {
          const set: Record<string, unknown> = { [META_KEY]: meta };
          for (const key of session._changed) set[key] = session._data[key];
          const applied = await backend.patch(session._storageKey, { set, unset: [...session._deleted] }, ttl);
          if (!applied) {
            // Destroyed by another request meanwhile: don't bring it back.
            this.clearCookie(state);
            session._reset();
            state.touchPending = false;
            return;
          }
        } else {
          await backend.write(session._storageKey, this.record(session, session._createdAt, meta.e), ttl);
        }
        session._saved();
        state.touchPending = false;
        return;
      }
      if (state.touchPending) {
        if (this.nativeTouch) await backend.touch(session._storageKey, ttl);
        else await backend.write(session._storageKey, this.record(session, session._createdAt, now + ttl * 1000), ttl);
        state.touchPending = false;
      }
    } catch (error) {
      state.failed = true;
      throw this.unavailable('save', error, messages.saveFailed());
    } finally {
      this.watch(state, session);
    }
  }

  /**
   * Synchronous part of saving, safe to run just before headers go out: gives
   * a new session its id and cookie, or clears the cookie of an emptied one.
   */
  private prepareHeaders(state: RequestState, session: Session): void {
    if (!session._modified) return;
    if (!session._stored && session.keys().length > 0 && !session._id) {
      session._id = newSessionId();
      session._storageKey = storageKeyOf(session._id);
      this.setCookie(state, this.signer.sign(session._id), this.ttl(Date.now(), Date.now()));
    } else if (session._stored && session.keys().length === 0) {
      this.clearCookie(state);
    }
  }

  /**
   * Arms the response hook the first time there is something to save, so
   * that requests which never change their session pay nothing for it.
   */
  private watch(state: RequestState, session: Session): void {
    if (state.hooked || !state.response) return;
    if (session._modified || state.touchPending) {
      this.hook(state, session);
      return;
    }
    session._onChange = () => this.hook(state, session);
  }

  private hook(state: RequestState, session: Session): void {
    if (state.hooked || !state.response) return;
    state.hooked = true;
    state.response.guard(
      () => this.prepareHeaders(state, session),
      () => this.commitState(state),
      messages.saveFailed(),
    );
  }

  private commitState(state: RequestState): Promise<void> {
    if (!state.session || state.failed) return Promise.resolve();
    if (!state.session._modified && !state.touchPending) return state.saving ?? Promise.resolve();
    const saving = (state.saving ?? Promise.resolve()).then(() => this.save(state, state.session!));
    state.saving = saving.catch(() => undefined);
    return saving;
  }

  private record(session: Session, createdAt: number, expiresAt: number): SessionData {
    const meta: RecordMeta = { c: createdAt, e: expiresAt };
    return { ...session._data, [META_KEY]: meta };
  }

  /** Store TTL and cookie Max-Age, in seconds: `maxAge`, capped by what `absoluteTimeout` leaves. */
  private ttl(createdAt: number, now: number): number {
    const { maxAge, absoluteTimeout } = this.options;
    if (absoluteTimeout === undefined) return Math.ceil(maxAge);
    const left = Math.ceil((createdAt + absoluteTimeout * 1000 - now) / 1000);
    return Math.max(1, Math.min(Math.ceil(maxAge), left));
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
      | Partial<RecordMeta>
      | undefined;
    if (meta && typeof meta.c === 'number' && typeof meta.e === 'number') return meta as RecordMeta;
    this.logger.warn(messages.corruptRecord(storageKey));
    return undefined;
  }

  /** Best-effort removal of an expired record; the session is new either way. */
  private async discard(storageKey: string): Promise<void> {
    try {
      await this.backend.destroy(storageKey);
    } catch (error) {
      this.logger.warn(`Could not remove an expired session: ${(error as Error).message}`);
    }
  }

  private setCookie(state: RequestState, value: string, maxAge: number): void {
    state.response?.setCookie(this.options.cookieName, serializeCookie(this.options, value, maxAge));
  }

  private clearCookie(state: RequestState): void {
    this.setCookie(state, '', 0);
  }

  private stateOf(request: object): RequestState {
    return (request as SessionRequest)[REQUEST_STATE] as RequestState;
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
