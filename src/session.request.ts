import type { Logger } from '@nestjs/common';
import { SessionLimitError, SessionValueError, unavailable } from './session.errors.js';
import type { SessionRequest } from './session.http.js';
import { applyCookieChange, responseOf } from './session.request-cookie.js';
import {
  holderOf,
  requestStateOf,
  setRequestState,
  type RequestState,
} from './session.request-state.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';
import type { SessionSigner } from './session.signer.js';
import type { CookieChange } from './session.own-lifetime.js';
import type { SessionStore } from './session.store.js';
import { recordOf } from './session.record.js';
import { readToken } from './session.transport.js';
import { isModified, Session, sessionInternals } from './session.js';
import type { SessionCalls } from './session.state.js';

const internals = sessionInternals();

/**
 * @internal The request side of sessions: binds a session to its request
 * (read at most once), applies the store's cookie changes to the response,
 * and schedules the save: by the interceptor after the handler, or by a hook
 * on the response, armed on the first change, before the response goes out.
 */
export class RequestSessions {
  /** The express-session methods' implementation, bound to every session loaded here. */
  calls: SessionCalls | undefined;

  constructor(
    private readonly store: SessionStore,
    private readonly signer: SessionSigner,
    private readonly options: ResolvedSessionOptions,
    private readonly logger: Logger,
  ) {}

  /** The request's session, loading it on the first call. */
  load(request: object): Promise<Session> {
    const req = request as SessionRequest;
    const state = this.existing(req);
    return state ? state.loading : this.begin(req).loading;
  }

  /** The session when it is at hand without asking the backend; undefined while it is read. */
  loadNow(request: object): Session | undefined {
    const req = request as SessionRequest;
    const state = this.existing(req);
    return state ? state.session : this.begin(req).session;
  }

  /** The state of a request whose session was loaded (or is being loaded). */
  stateOf(request: object): RequestState | undefined {
    return requestStateOf(holderOf(request as SessionRequest));
  }

  /** The interceptor will save before the response is written: no hook needed yet. */
  manage(request: object): void {
    const state = this.stateOf(request);
    if (state && !state.hooked) state.managed = true;
  }

  /** Saves what changed; rejects with a 503 when the backend fails. */
  commit(request: object): Promise<void> {
    const state = this.stateOf(request);
    if (!state) return Promise.resolve();
    // From here on, a change (by an exception filter, an outer interceptor)
    // arms the response hook, so it is saved before the response goes out.
    // The listener is set again: a change or a live read while managed used it.
    state.managed = false;
    if (state.session && !state.hooked) this.listen(state, state.session);
    return this.commitState(state);
  }

  /**
   * The interceptor will not answer after its save (or not save at all):
   * the response hook takes over, and holds the response back until a save
   * in flight has finished.
   */
  release(request: object): void {
    const state = this.stateOf(request);
    if (!state) return;
    state.managed = false;
    if (state.session) this.watch(state, state.session);
  }

  /** Applies a cookie change to the request's response (see `applyCookieChange`). */
  apply(state: RequestState, change: CookieChange | undefined): void {
    applyCookieChange(state, change, this.signer, this.options);
  }

  /** Fastify linked the request to its reply: applies a cookie change made before. */
  linked(request: object): void {
    const state = this.stateOf(request);
    const change = state?.deferred;
    if (change === undefined) return;
    state!.deferred = undefined;
    this.apply(state!, change);
  }

  /** True when the request carries a session value (valid or not) by a transport in use. */
  hasToken(request: object): boolean {
    return Boolean(readToken(request as SessionRequest, this.options));
  }

  /** Nothing more to save for this session (it was regenerated, destroyed, or reset). */
  settled(state: RequestState, session: Session): void {
    state.pending.touch = false;
    state.pending.refresh = false;
    this.watch(state, session);
  }

  /** Marks the request's session as failed (no further save) and maps the error to a 503. */
  fail(state: RequestState, step: string, error: unknown, message: string): Error {
    state.failed = true;
    // A value that can no longer be stored is the application's error, not the backend's.
    if (error instanceof SessionLimitError || error instanceof SessionValueError) return error;
    return unavailable(this.logger, step, error, message);
  }

  /** The state of a request seen before, attaching its session to this request object too. */
  private existing(req: SessionRequest): RequestState | undefined {
    const state = requestStateOf(holderOf(req));
    if (state && req !== state.holder) state.request = req;
    if (state && req.session === undefined) {
      if (state.session) req.session = state.session;
      else state.loading.then((session) => (req.session = session), noop);
    }
    return state;
  }

  private begin(req: SessionRequest): RequestState {
    const holder = holderOf(req);
    refuseForeign(req.session);
    if (holder !== req) refuseForeign(holder.session);
    const state: RequestState = {
      loading: undefined as unknown as Promise<Session>,
      holder,
      request: req,
      pending: { touch: false, refresh: false },
      hooked: false,
      failed: false,
      managed: false,
    };
    setRequestState(holder, state);
    const value = readToken(req, this.options);
    const cookie = value === undefined ? undefined : this.signer.verify(value);
    if (cookie) {
      state.loading = this.read(req, state, value!, cookie);
    } else {
      // No session cookie worth asking the backend about: a new session, now.
      this.attach(req, state, new Session());
      state.loading = Promise.resolve(state.session!);
    }
    return state;
  }

  private async read(
    req: SessionRequest,
    state: RequestState,
    value: string,
    cookie: Parameters<SessionStore['load']>[0],
  ): Promise<Session> {
    let session: Session;
    try {
      session = await this.store.load(cookie, state.pending);
    } catch (error) {
      throw unavailable(this.logger, 'load', error, messages.loadFailed());
    }
    this.attach(req, state, session);
    this.apply(state, this.store.loadedCookie(session, cookie, value, state.pending));
    return session;
  }

  private attach(req: SessionRequest, state: RequestState, session: Session): void {
    this.install(state, session);
  }

  /** Makes `session` the request's session (on the Node request and Fastify's wrapper). */
  private install(state: RequestState, session: Session): void {
    state.session = session;
    state.holder.session = session;
    if (state.request !== state.holder) state.request.session = session;
    internals.bind(session, this.calls, state);
    this.watch(state, session);
  }

  /**
   * Puts `fresh` in place of the request's session (express-session's
   * `regenerate(cb)`): the previous object keeps its data but is no longer
   * saved.
   */
  replace(state: RequestState, fresh: Session): void {
    const previous = state.session;
    if (previous) {
      internals.onChange(previous, undefined);
      internals.bind(previous, undefined);
    }
    state.loading = Promise.resolve(fresh);
    this.install(state, fresh);
  }

  /** Saves what changed now (express-session's `save(cb)`); rejects with a 503 when the backend fails. */
  saveNow(state: RequestState): Promise<void> {
    return this.commitState(state);
  }

  /**
   * Arms the response hook the first time there is something to save, so
   * that requests which never change their session pay nothing for it.
   */
  watch(state: RequestState, session: Session): void {
    if (state.hooked) return;
    if (isModified(session) || state.pending.touch || state.pending.refresh) {
      this.hook(state);
      return;
    }
    this.listen(state, session);
  }

  /** Arms the response hook on the session's next change. */
  private listen(state: RequestState, session: Session): void {
    // A fresh closure each time: keeping one on the state (a function-valued
    // field added after the state was made) cost V8 about 8 % more
    // instructions per memory /write on Nest 12.
    internals.onChange(session, () => this.hook(state));
  }

  private hook(state: RequestState): void {
    if (state.hooked || state.managed) return;
    const response = responseOf(state);
    if (!response) return;
    state.hooked = true;
    response.guard(
      () => {
        // The request's session now: regenerate(cb) may have replaced it.
        if (!state.failed && state.session) this.apply(state, this.store.prepare(state.session));
      },
      () => this.commitState(state),
      messages.saveFailed(),
    );
  }

  private commitState(state: RequestState): Promise<void> {
    const { session, pending } = state;
    if (!session || state.failed) return Promise.resolve();
    if (!isModified(session) && !pending.touch && !pending.refresh) {
      return state.saving ?? Promise.resolve();
    }
    const saving = (state.saving ?? Promise.resolve()).then(() => this.save(state, session));
    state.saving = saving.catch(() => undefined);
    return saving;
  }

  /**
   * Runs `work` (a destroy, a regenerate, a reload) after the save in flight,
   * and before any save asked for meanwhile: a save that finishes later
   * cannot bring back what it ended.
   */
  exclusive<T>(state: RequestState, work: () => Promise<T>): Promise<T> {
    const run = (state.saving ?? Promise.resolve()).then(work);
    state.saving = run.then(noop, noop);
    return run;
  }

  private async save(state: RequestState, session: Session): Promise<void> {
    try {
      const headersSent = responseOf(state)?.headersSent ?? false;
      const change = await this.store.save(session, state.pending, headersSent, state.request);
      // Replaced or reset while it ran: its cookie is no longer the request's.
      const current =
        state.session === session &&
        (change === undefined || change === 'clear' || recordOf(session)?.id === change.id);
      if (current) this.apply(state, change);
    } catch (error) {
      throw this.fail(state, 'save', error, messages.saveFailed());
    } finally {
      this.watch(state, session);
    }
  }
}

function noop(): void {}

/** Another session middleware's `request.session` is never overwritten: it would break that middleware. */
function refuseForeign(current: unknown): void {
  if (current == null || current instanceof Session) return;
  const name = (current as object).constructor?.name;
  throw new Error(
    messages.foreignSession(name && name !== 'Object' ? `a ${name}` : typeof current),
  );
}
