import { serializeCookie } from './session.cookie.js';
import { fastifyResponseOf } from './session.fastify.js';
import { nodeResponseOf, type SessionResponse } from './session.http.js';
import type { ResolvedSessionOptions } from './session.options.js';
import type { CookieChange } from './session.own-lifetime.js';
import type { RequestState } from './session.request-state.js';
import type { SessionSigner } from './session.signer.js';
import { answersInHeader } from './session.transport.js';

/**
 * @internal The response of a request whose session was asked for: Express's
 * (Node's) or Fastify's reply, found on first use (Fastify links a request to
 * its reply only in a hook), undefined when there is none yet.
 */
export function responseOf(state: RequestState): SessionResponse | undefined {
  return (state.response ??= fastifyResponseOf(state.holder) ?? nodeResponseOf(state.holder));
}

/**
 * @internal Sets or clears the session cookie on the request's response, or
 * with the header transport, the session header (empty to clear; nothing
 * when only the cookie's attributes would change). Without a response yet,
 * the change waits in `state.deferred`.
 */
export function applyCookieChange(
  state: RequestState,
  change: CookieChange | undefined,
  signer: SessionSigner,
  options: ResolvedSessionOptions,
): void {
  if (change === undefined) return;
  const response = responseOf(state);
  if (!response) {
    state.deferred = change;
    return;
  }
  const value = change === 'clear' ? '' : (change.value ?? signer.sign(change.id));
  if (answersInHeader(state.holder, options)) {
    if (change === 'clear' || !change.resend) response.setToken(options.headerName, value);
    return;
  }
  const maxAge = change === 'clear' ? 0 : change.maxAge;
  const persistent = change === 'clear' ? undefined : change.persistent;
  response.setCookie(
    options.cookieName,
    serializeCookie(options, value, maxAge, Date.now(), persistent),
  );
}
