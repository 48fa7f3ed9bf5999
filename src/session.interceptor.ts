import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { catchError, concat, defer, EMPTY, from, ignoreElements, mergeMap, Observable } from 'rxjs';
import { graphqlRequestOf } from './session.context.js';
import { handlerSendsResponse } from './session.route-args.js';
import { SessionService } from './session.service.js';
import { MessageSession, withMessageSession } from './session.socket.js';

/**
 * Loads the request's session before the handler and saves it after, before
 * the response is sent, also when the handler throws (the exception still
 * reaches the client) and when it writes the response itself with `@Res()`.
 * GraphQL resolvers share their HTTP request's session (read once, saved
 * once before the response); a WebSocket message gets its session read
 * fresh and saved after its handler. `SessionModule` registers it globally;
 * it is exported for apps that would rather bind it with
 * `@UseInterceptors()`. Other contexts (RPC) pass through.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  private readonly writesResponse = new WeakMap<object, boolean>();

  constructor(private readonly sessions: SessionService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    switch (context.getType<string>()) {
      case 'http':
        return this.interceptHttp(context, next);
      case 'graphql':
        return this.interceptGraphql(context, next);
      case 'ws':
        return this.interceptSocket(context, next);
      default:
        return next.handle();
    }
  }

  private interceptHttp(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<object>();
    // No cookie to look up (or loaded already by a guard): nothing to wait
    // for. Such a session is saved by the response hook the service arms on
    // its first change, before the response goes out, so requests that never
    // touch their session pay nothing more here.
    if (this.sessions.loadNow(request)) return next.handle();
    if (!this.handlerWritesResponse(context)) this.sessions.manage(request);
    return from(this.sessions.load(request)).pipe(
      mergeMap(() => savedAfter(next.handle(), () => this.sessions.commit(request))),
    );
  }

  /**
   * Every resolver of an operation runs with the same HTTP request: the
   * first one reads the session, the others get the same object. Nothing is
   * saved here, since more resolvers may follow: the response hook saves once,
   * before the GraphQL response is sent, with the cookie on it.
   */
  private interceptGraphql(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = graphqlRequestOf(context);
    if (this.sessions.loadNow(request)) return next.handle();
    return from(this.sessions.load(request)).pipe(mergeMap(() => next.handle()));
  }

  /**
   * Each message reads the session afresh (a logout over HTTP is seen at
   * once), when its handler first asks for it, and saves what the handler
   * changed, as a delta, after it. Messages that never use their session
   * cost nothing.
   */
  private interceptSocket(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const client = context.switchToWs().getClient<object>();
    const message = new MessageSession(() => this.sessions.loadForSocket(client));
    return savedAfter(
      withMessageSession(message, () => next.handle()),
      () => message.save((session) => this.sessions.saveForSocket(session)),
    );
  }

  /** True when the handler sends the response itself (`@Res()`, `@Next()`). */
  private handlerWritesResponse(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let writes = this.writesResponse.get(handler);
    if (writes === undefined) {
      writes = handlerSendsResponse(context.getClass(), handler.name);
      this.writesResponse.set(handler, writes);
    }
    return writes;
  }
}

/**
 * `handled`, with `save` awaited before its value goes on, also when it
 * completes without a value, and before an error goes on (the error wins
 * unless the save fails).
 */
function savedAfter(handled: Observable<unknown>, save: () => Promise<void>): Observable<unknown> {
  let emitted = false;
  return concat(
    handled.pipe(
      mergeMap((value) => {
        emitted = true;
        return save().then(() => value);
      }),
    ),
    // A handler whose observable completes without a value saves too.
    defer(() => (emitted ? EMPTY : from(save()).pipe(ignoreElements()))),
  ).pipe(catchError((error: unknown) => save().then(() => Promise.reject(error))));
}
