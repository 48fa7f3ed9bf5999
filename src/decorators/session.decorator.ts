import { createParamDecorator, UseInterceptors, type ExecutionContext } from '@nestjs/common';
import type { SessionData } from '../backends/session-backend.js';
import { SessionInterceptor } from '../session.interceptor.js';
import { sessionOf } from '../session.context.js';
import { Session as SessionClass } from '../session.js';

const SessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const session = sessionOf(context);
  if (key === undefined) return session;
  return session instanceof Promise ? session.then((loaded) => loaded.get(key)) : session?.get(key);
});

/** Handlers `SessionInterceptor` is bound to already (a handler may take several `@Session()`). */
const bound = new WeakSet<object>();

/**
 * The parameter decorator, which also binds `SessionInterceptor` to its
 * handler, as `@UseInterceptors(SessionInterceptor)` would: only the routes
 * that use the session load it.
 */
function SessionDecorator(key?: string): ParameterDecorator {
  const param = SessionParam(key);
  return (target, method, index) => {
    param(target, method, index);
    if (method === undefined) return;
    const descriptor = Object.getOwnPropertyDescriptor(target, method);
    const handler: unknown = descriptor?.value;
    if (typeof handler !== 'function' || bound.has(handler)) return;
    bound.add(handler);
    UseInterceptors(SessionInterceptor)(target, method, descriptor!);
  };
}

/**
 * The request's session, as a handler parameter: `@Session() session: Session`
 * injects the whole session, `@Session('userId') userId?: number` one value
 * (a copy). `Session` is also the session's type, and `instanceof Session`
 * works. It works in controllers, GraphQL resolvers (`@Query`, `@Mutation`,
 * `@ResolveField`) and WebSocket gateways (`@SubscribeMessage`): it binds
 * `SessionInterceptor` to the handler, so the session is loaded before it runs
 * and saved after it; routes without `@Session()` don't load it (see
 * `loadOnEveryRoute`). Import it from this package, not from `@nestjs/common`
 * (whose `@Session()` reads express-session's `req.session`):
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
} = Object.defineProperty(SessionDecorator, Symbol.hasInstance, {
  value: (value: unknown) => value instanceof SessionClass,
}) as never;

/** The session's type: what `@Session()` injects and `SessionService.load()` resolves to. */
export type Session<T extends SessionData = SessionData> = SessionClass<T>;
