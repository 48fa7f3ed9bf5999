import type { ExecutionContext } from '@nestjs/common';
import type { SessionRequest } from './session.http.js';
import { messages } from './session.messages.js';
import { loadingSession } from './session.request-state.js';
import { currentMessageSession } from './session.socket.js';
import type { Session } from './session.js';

/**
 * @internal Where a handler's session comes from, by the kind of context
 * Nest runs it in: the HTTP request (`http`), the request a GraphQL
 * operation came with (`graphql`), or the socket message being handled
 * (`ws`). The only place that knows how each transport hands out its
 * request; no import of `@nestjs/graphql` or `@nestjs/websockets` needed.
 */

/**
 * The HTTP request of a GraphQL resolver: `req` of the GraphQL context (the
 * third resolver argument), which Nest's Apollo driver always provides.
 * Throws an error saying how to configure the context when it is missing.
 */
export function graphqlRequestOf(context: ExecutionContext): SessionRequest {
  const graphqlContext = context.getArgs()[2] as { req?: unknown } | undefined;
  const req = graphqlContext?.req;
  if (typeof req !== 'object' || req === null) throw new Error(messages.graphqlNoRequest());
  return req as SessionRequest;
}

/**
 * What `@Session()` injects: the loaded session, or the promise of it (a
 * socket message's session, read when a handler first asks for it; a
 * GraphQL field resolver reached before its request's read finished), which
 * Nest awaits before calling the handler.
 */
export function sessionOf(context: ExecutionContext): Session | Promise<Session> {
  switch (context.getType<string>()) {
    case 'graphql': {
      const request = graphqlRequestOf(context);
      return (request.session as Session | undefined) ?? loadedBy(request);
    }
    case 'ws': {
      const message = currentMessageSession();
      if (!message) throw new Error(messages.socketSessionMissing());
      return message.get();
    }
    default: {
      // Loaded by the interceptor, a guard or the middleware; or, when the
      // interceptor is not bound to the function Nest calls (a method
      // decorator below the route decorator replaced it, a subclass overrides
      // the route), loaded now: Nest awaits the promise before calling the
      // handler, and the response hook saves any change before the response.
      const request = context.switchToHttp().getRequest<SessionRequest>();
      return (request.session as Session | undefined) ?? loadedBy(request);
    }
  }
}

/** The request's session, loading it; throws when no `SessionModule` serves the app. */
function loadedBy(request: SessionRequest): Promise<Session> {
  const loading = loadingSession(request);
  if (!loading) throw new Error(messages.sessionModuleMissing());
  return loading;
}
