/**
 * @internal Per-request session state and how it is found: the state of each
 * request (kept on the Node request under a symbol, so Fastify's wrapper and
 * its `raw` share it), and the loaders by which code that runs outside
 * the interceptor (GraphQL field resolvers) reaches a request's session.
 */
import type { SessionRequest, SessionResponse } from './session.http.js';
import type { CookieChange } from './session.own-lifetime.js';
import type { Pending } from './session.store.js';
import type { Session } from './session.js';

/** @internal One request's session and what remains to do for it. */
export interface RequestState {
  loading: Promise<Session>;
  session?: Session;
  /** The Node request underneath, which the state is keyed by. */
  holder: SessionRequest;
  /** The request as the application sees it (Fastify's wrapper rather than the Node request). */
  request: SessionRequest;
  /** Resolved on first use: Fastify links a request to its reply only in a hook. */
  response?: SessionResponse;
  pending: Pending;
  /** Hooks on the response are installed (once). */
  hooked: boolean;
  /** The last save failed: don't try again for this request. */
  failed: boolean;
  /**
   * The interceptor saves before the response is written (the handler does
   * not write it itself): no need to hook the response, until it has saved.
   */
  managed: boolean;
  saving?: Promise<void>;
  /** A cookie change made before the response was known (Fastify middleware runs before its link). */
  deferred?: CookieChange;
}

/**
 * Per-request state, keyed by the Node request: Fastify hands middleware the
 * Node request and handlers a wrapper around it (`request.raw`), and both
 * must see one session.
 */
const STATE = Symbol('pselfastapise-async.requestState');

/** @internal The state of the Node request `holder`, once its session was asked for. */
export function requestStateOf(holder: SessionRequest): RequestState | undefined {
  return holder[STATE] as RequestState | undefined;
}

/**
 * @internal Keeps `state` on the Node request `holder`, under a symbol of its
 * own: a property rather than a `WeakMap` entry, which the garbage collector
 * would have to trace as an ephemeron for every request in flight.
 */
export function setRequestState(holder: SessionRequest, state: RequestState): void {
  // Not enumerable: logging the request (util.inspect) does not dump it.
  Object.defineProperty(holder, STATE, { value: state, writable: true, configurable: true });
}

/** @internal The Node request under `request` (Fastify's wrapper holds it as `raw`). */
export function holderOf(request: SessionRequest): SessionRequest {
  return (request.raw as SessionRequest | undefined) ?? request;
}

/** @internal The session of a request whose read has begun, once read; undefined before. */
export function pendingSession(request: SessionRequest): Promise<Session> | undefined {
  return requestStateOf(holderOf(request))?.loading;
}

/**
 * How each running app loads sessions, by the instance serving its requests
 * (the Express app, which is `request.app`; the Fastify instance, which is
 * `request.server`).
 */
const loaders = new WeakMap<object, (request: object) => Promise<Session>>();

/** @internal Lets `loadingSession` load the sessions of requests `app` serves. */
export function registerLoader(app: object, load: (request: object) => Promise<Session>): void {
  loaders.set(app, load);
}

/**
 * @internal The session of a request, loading it when nothing has begun to:
 * a GraphQL field resolver (which Nest runs without interceptors) under a
 * root resolver that does not take `@Session()`.
 */
export function loadingSession(request: SessionRequest): Promise<Session> | undefined {
  const pending = pendingSession(request);
  if (pending) return pending;
  const app = (request.app ?? request.server) as object | undefined;
  return app ? loaders.get(app)?.(request) : undefined;
}
