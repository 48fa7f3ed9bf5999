import {
  Injectable,
  Optional,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Observable, type Subscription } from 'rxjs';
import { graphqlRequestOf } from './session.context.js';
import { messages } from './session.messages.js';
import { handlerSendsResponse, handlerStreamsEvents } from './session.route-args.js';
import { SessionService } from './session.service.js';
import { MessageSession, withMessageSession } from './session.socket.js';

/**
 * Loads the request's session before the handler and saves it after, before
 * the response is sent, also when the handler throws (the exception still
 * reaches the client) and when it writes the response itself with `@Res()`.
 * `@Session()` binds it to the handler that takes it (`SessionModule`
 * registers it globally with `loadOnEveryRoute: true`). GraphQL resolvers
 * share their HTTP request's session (read once, saved once before the
 * response); a WebSocket message gets its session read fresh and saved after
 * its handler. It is exported for apps that bind it themselves with
 * `@UseInterceptors()`. Other contexts (RPC) pass through.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  private readonly writesResponse = new WeakMap<object, boolean>();
  private service?: SessionService;

  /**
   * Bound by `@Session()`, Nest builds it in the controller's module, which
   * may not import `SessionModule`: the service is then found in the app.
   */
  constructor(
    @Optional() sessions?: SessionService,
    @Optional() private readonly moduleRef?: ModuleRef,
  ) {
    this.service = sessions;
  }

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
    // The session is saved here, after the handler and before Nest writes
    // its result, when Nest writes it. When the response may go out first
    // (`@Res()`, `@Sse()`), the response hook the service arms on the first
    // change saves it instead, before the headers; then a session at hand
    // (no cookie, or loaded by a guard) needs nothing from the interceptor.
    const sessions = this.sessions;
    const session = sessions.loadNow(request);
    const writes = this.handlerWritesResponse(context);
    if (session && writes) return next.handle();
    if (!writes) sessions.manage(request);
    return savedAfter(
      () => next.handle(),
      () => sessions.commit(request),
      session ? undefined : sessions.load(request),
      () => sessions.release(request),
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
    const loading = this.sessions.load(request);
    return new Observable((subscriber) => {
      let handled: Subscription | undefined;
      loading.then(
        () => {
          if (!subscriber.closed) handled = next.handle().subscribe(subscriber);
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => handled?.unsubscribe();
    });
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
      () => withMessageSession(message, () => next.handle()),
      () => message.save((session) => this.sessions.saveForSocket(session)),
    );
  }

  private get sessions(): SessionService {
    if (this.service) return this.service;
    try {
      return (this.service = this.moduleRef!.get(SessionService, { strict: false }));
    } catch {
      throw new Error(messages.sessionModuleMissing());
    }
  }

  /**
   * True when the response may go out before the handler's result: the
   * handler sends it itself (`@Res()`, `@Next()`), or it is an `@Sse()`
   * stream, whose headers Nest sends when it starts. The route metadata is
   * found under the handler's method key, looked up on the controller (a
   * wrapping method decorator may have renamed the function); when none is
   * found, also true: the response hook then saves before the response goes
   * out, whoever sends it.
   */
  private handlerWritesResponse(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let writes = this.writesResponse.get(handler);
    if (writes === undefined) {
      const controller = context.getClass();
      const key = methodKeyOf(controller, handler);
      writes =
        key === undefined || handlerStreamsEvents(handler) || handlerSendsResponse(controller, key);
      this.writesResponse.set(handler, writes);
    }
    return writes;
  }
}

/** The key under which `controller`'s prototype chain holds `handler`. */
function methodKeyOf(
  controller: { prototype: unknown },
  handler: unknown,
): string | symbol | undefined {
  for (let proto: unknown = controller.prototype; proto && proto !== Object.prototype;) {
    for (const key of Reflect.ownKeys(proto)) {
      if (Object.getOwnPropertyDescriptor(proto, key)?.value === handler) return key;
    }
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

/**
 * What `handle()` emits, started once `ready` resolves (at once without it),
 * with `save` awaited before each value goes on, also when it completes
 * without a value, and before an error goes on (the error wins unless the
 * save fails). When the subscriber leaves before it was answered (an outer
 * `timeout()`), whether or not a save began, `abandoned` runs. One
 * hand-written Observable rather than an operator chain: it runs on every
 * request that uses its session.
 */
function savedAfter(
  handle: () => Observable<unknown>,
  save: () => Promise<void>,
  ready?: Promise<unknown>,
  abandoned?: () => void,
): Observable<unknown> {
  return new Observable((subscriber) => {
    let handled: Subscription | undefined;
    let saved: Promise<unknown> = Promise.resolve();
    // A save was scheduled: no other one is needed when the handler completes.
    let saving = false;
    // The subscriber got a value, its completion or an error.
    let answered = false;
    const answer = (send: () => void) => {
      answered = true;
      send();
    };
    const failed = (failure: unknown) => answer(() => subscriber.error(failure));
    // The handler failed: save what it changed, then pass its error on.
    const fail = (error: unknown) => {
      saving = true;
      void save().then(() => answer(() => subscriber.error(error)), failed);
    };
    const start = () => {
      if (subscriber.closed) return;
      handled = handle().subscribe({
        next: (value) => {
          saving = true;
          saved = saved.then(save).then(() => answer(() => subscriber.next(value)));
          saved.catch(failed);
        },
        error: fail,
        complete: () => {
          const first = !saving;
          saving = true;
          saved
            .then(() => (first ? save() : undefined))
            .then(() => answer(() => subscriber.complete()), failed);
        },
      });
    };
    if (ready) ready.then(start, fail);
    else start();
    return () => {
      handled?.unsubscribe();
      if (!answered) abandoned?.();
    };
  });
}
