import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { capabilitiesOf } from './backends/backend-capabilities.js';
import { SESSION_OPTIONS } from './session.constants.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { recordOf } from './session.record.js';
import { ExpressSessionCalls } from './session.callbacks.js';
import { RequestSessions } from './session.request.js';
import type { RequestState } from './session.request-state.js';
import { SessionSigner } from './session.signer.js';
import { bindSocket, loadForSocket, saveForSocket } from './session.socket.js';
import { SessionStore } from './session.store.js';
import { Describer } from './session.describe.js';
import { SessionEvents, type SessionEvent } from './session.events.js';
import { UserIndex } from './session.user-index.js';
import { UserSessions, type UserSession } from './session.user-sessions.js';
import type { Session } from './session.js';

export type { UserSession } from './session.user-sessions.js';

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
export class SessionService implements OnModuleDestroy {
  private readonly logger = new Logger('Session');
  private readonly users: UserSessions;
  private readonly store: SessionStore;
  private readonly requests: RequestSessions;
  private readonly emitter = new SessionEvents(this.logger);

  /**
   * Sessions created, regenerated, destroyed (with the reason) and found
   * expired, each reported once the backend confirmed it. Completes when the
   * application shuts down. A subscriber that throws is logged (the error
   * level of the `Session` logger): the other subscribers and the request
   * are unaffected.
   *
   * @example
   * this.sessions.events.subscribe((event) => this.audit.log(event));
   */
  readonly events: Observable<SessionEvent> = this.emitter.observable;

  constructor(@Inject(SESSION_OPTIONS) options: ResolvedSessionOptions) {
    const capabilities = capabilitiesOf(options.backend);
    const { maxSessionsPerUser: max, onLimit } = options;
    const limit = max === undefined ? undefined : { max, onLimit };
    const index = new UserIndex(options.userKey, options.maxAge, capabilities, this.logger, limit);
    this.store = new SessionStore(options, capabilities, index, this.logger, {
      describer: new Describer(options.describe, this.logger),
      events: this.emitter,
    });
    this.users = new UserSessions(index, this.emitter, this.logger, (request) =>
      this.currentKey(request),
    );
    const signer = new SessionSigner(options.secretKeys);
    this.requests = new RequestSessions(this.store, signer, options, this.logger);
    this.requests.calls = new ExpressSessionCalls(this.store, this.requests, options, (request) =>
      this.destroy(request),
    );
  }

  /**
   * The request's session, loaded from the backend on the first call and
   * cached on the request. Rejects with a 503 `ServiceUnavailableException`
   * when the backend fails.
   */
  load(request: object): Promise<Session> {
    return this.requests.load(request);
  }

  /**
   * @internal The request's session when it is at hand without asking the
   * backend (already loaded, or the request carries no valid session cookie);
   * undefined while it still has to be read.
   */
  loadNow(request: object): Session | undefined {
    return this.requests.loadNow(request);
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
    await this.load(request);
    const state = this.stateOf(request);
    return this.requests.exclusive(state, () => this.renew(state));
  }

  private async renew(state: RequestState): Promise<Session> {
    const session = state.session!;
    try {
      this.requests.apply(state, await this.store.regenerate(session, state.request));
    } catch (error) {
      throw this.requests.fail(state, 'regenerate', error, messages.saveFailed());
    }
    this.requests.settled(state, session);
    return session;
  }

  /**
   * Ends the session: its record is deleted, its cookie cleared, and
   * `request.session` becomes a new, empty session.
   */
  async destroy(request: object): Promise<void> {
    await this.load(request);
    const state = this.stateOf(request);
    return this.requests.exclusive(state, () => this.end(state));
  }

  private async end(state: RequestState): Promise<void> {
    const session = state.session!;
    const stored = recordOf(session)?.stored === true;
    try {
      await this.store.destroy(session);
    } catch (error) {
      throw this.requests.fail(state, 'destroy', error, messages.saveFailed());
    }
    if (stored || this.requests.hasToken(state.request)) this.requests.apply(state, 'clear');
    this.requests.settled(state, session);
  }

  /**
   * The session of a WebSocket client, for one message: read from the
   * backend on every call (a logout over HTTP is seen by the next message),
   * by the session cookie the client sent with its handshake. Save what you
   * change with `saveForSocket(session)`. In `@SubscribeMessage` handlers,
   * `@Session()` does both for you. Rejects with a `WsException` when the
   * backend fails, or when a `ws` client was not bound with `bindSocket`.
   *
   * @example
   * const session = await this.sessions.loadForSocket(client);
   * session.set('lastSeen', Date.now());
   * await this.sessions.saveForSocket(session);
   */
  loadForSocket(client: object): Promise<Session> {
    return loadForSocket(this.requests, client);
  }

  /**
   * Saves what changed in a session from `loadForSocket`: only the keys
   * changed (a delta, so HTTP requests and other messages changing other keys
   * are not overwritten); an emptied session is deleted. A socket cannot set
   * a cookie, so a session that does not exist yet cannot be created here:
   * that rejects with a `WsException` saying to log in over HTTP first, and
   * nothing is stored.
   */
  saveForSocket(session: Session): Promise<void> {
    return saveForSocket(this.requests, session);
  }

  /**
   * Remembers the HTTP request that opened a `ws` client, whose session
   * cookie the client's messages use. socket.io clients keep their handshake
   * and need no call; with `@nestjs/platform-ws`, call it first thing in the
   * gateway's `handleConnection(client, request)`.
   *
   * @example
   * handleConnection(client: WebSocket, request: IncomingMessage) {
   *   this.sessions.bindSocket(client, request);
   * }
   */
  bindSocket(client: object, request: object): void {
    bindSocket(client, request);
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
    return this.users.list(user, request);
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
    return this.users.destroyAll(user, options.except);
  }

  /**
   * Ends one session of a user, by the `handle` that `listSessions` gave.
   * Resolves to false when the handle is not one of this user's live
   * sessions (so a user can only end their own). Needs the `userKey` option.
   */
  async destroySession(user: unknown, handle: string): Promise<boolean> {
    return this.users.destroyOne(user, handle);
  }

  /** @internal Completes `events` on application shutdown. */
  onModuleDestroy(): void {
    this.emitter.complete();
  }

  /**
   * @internal The interceptor will save this request's session itself before
   * the response is written, so the response needs no hook.
   */
  manage(request: object): void {
    this.requests.manage(request);
  }

  /**
   * @internal The interceptor will not save after all (its subscription was
   * cut short, by an outer `timeout()` say): the response hook saves instead.
   */
  release(request: object): void {
    this.requests.release(request);
  }

  /**
   * @internal Saves what changed. Called by the interceptor after the
   * handler, and by the response hook when the response ends first. Rejects
   * with a 503 when the backend fails.
   */
  commit(request: object): Promise<void> {
    return this.requests.commit(request);
  }

  /** @internal Fastify linked the request to its reply (middleware may have run before). */
  linked(request: object): void {
    this.requests.linked(request);
  }

  /** The storage key of the request's session, if it is stored. */
  private async currentKey(request: object): Promise<string | undefined> {
    const record = recordOf(await this.load(request));
    return record?.stored ? record.storageKey : undefined;
  }

  private stateOf(request: object): RequestState {
    return this.requests.stateOf(request)!;
  }
}
