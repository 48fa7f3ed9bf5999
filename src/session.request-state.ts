/**
 * @internal Per-request session state and how it is found: the state of each
 * request (kept in a `WeakMap` keyed by the Node request, so Fastify's wrapper
 * and its `raw` share it), and the loaders by which code that runs outside
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
export const states = new WeakMap<object, RequestState>();

/** @internal The Node request under `request` (Fastify's wrapper holds it as `raw`). */
export function holderOf(request: SessionRequest): SessionRequest {
  return (request.raw as SessionRequest | undefined) ?? request;
}

/** @internal The session of a request whose read has begun, once read; undefined before. */
export function pendingSession(request: SessionRequest): Promise<Session> | undefined {
  return states.get(holderOf(request))?.loading;
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
