import {
  Injectable,
  Optional,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Observable, type Subscription } from 'rxjs';
import { handlerSendsResponse } from './session.route-args.js';
import { SessionService } from './session.service.js';

/**
 * Loads the request's session before the handler and saves it after, before
 * the response is sent, also when the handler throws (the exception still
 * reaches the client) and when it writes the response itself with `@Res()`.
 * `@Session()` binds it to the handler that takes it; `SessionModule`
 * registers it globally with `loadOnEveryRoute: true`. It is exported for
 * apps that bind it themselves with `@UseInterceptors()`. Non-HTTP contexts
 * pass through.
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
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<object>();
    // No cookie to look up (or loaded already by a guard): nothing to wait
    // for. Such a session is saved by the response hook the service arms on
    // its first change, before the response goes out, so requests that never
    // touch their session pay nothing more here.
    if (this.sessions.loadNow(request)) return next.handle();
    const sessions = this.sessions;
    if (!this.handlerWritesResponse(context)) sessions.manage(request);
    // One hand-written Observable rather than an operator chain: it runs on
    // every request that reads its session. Each value waits for the save;
    // a handler that completes without a value, or throws, saves too.
    return new Observable((subscriber) => {
      let handled: Subscription | undefined;
      let saved: Promise<unknown> = Promise.resolve();
      let emitted = false;
      const fail = (error: unknown) =>
        void sessions.commit(request).then(
          () => subscriber.error(error),
          (failure: unknown) => subscriber.error(failure),
        );
      sessions.load(request).then(() => {
        if (subscriber.closed) return;
        handled = next.handle().subscribe({
          next: (value) => {
            emitted = true;
            saved = saved.then(() => sessions.commit(request)).then(() => subscriber.next(value));
            saved.catch(fail);
          },
          error: fail,
          complete: () => {
            saved
              .then(() => (emitted ? undefined : sessions.commit(request)))
              .then(() => subscriber.complete(), fail);
          },
        });
      }, fail);
      return () => handled?.unsubscribe();
    });
  }

  private get sessions(): SessionService {
    return (this.service ??= this.moduleRef!.get(SessionService, { strict: false }));
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
