import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { SessionData } from '../backends/session-backend.js';
import { sessionOf } from '../session.context.js';
import { Session as SessionClass } from '../session.js';

const SessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const session = sessionOf(context);
  if (key === undefined) return session;
  return session instanceof Promise ? session.then((loaded) => loaded.get(key)) : session?.get(key);
});

/**
 * The request's session, as a handler parameter: `@Session() session: Session`
 * injects the whole session, `@Session('userId') userId?: number` one value
 * (a copy). `Session` is also the session's type, and `instanceof Session`
 * works. It works in controllers, GraphQL resolvers (`@Query`, `@Mutation`,
 * `@ResolveField`) and WebSocket gateways (`@SubscribeMessage`). Import it
 * from this package, not from `@nestjs/common` (whose `@Session()` reads
 * express-session's `req.session`):
 *
 * @example
 * import { Session } from 'pselfastapise-async';
 *
 * @Get('profile')
 * profile(@Session() session: Session) {
 *   return { user: session.get('username') };
 * }
 */
export const Session: ((key?: string) => ParameterDecorator) & {
  [Symbol.hasInstance](value: unknown): value is SessionClass;
} = Object.defineProperty(SessionParam, Symbol.hasInstance, {
  value: (value: unknown) => value instanceof SessionClass,
}) as never;

/** The session's type: what `@Session()` injects and `SessionService.load()` resolves to. */
export type Session<T extends SessionData = SessionData> = SessionClass<T>;
