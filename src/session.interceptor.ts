import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { catchError, from, mergeMap, Observable, throwError } from 'rxjs';
import { SessionService } from './session.service.js';

/**
 * Loads the request's session before the handler and saves it after, before
 * the response is sent, also when the handler throws (the exception still
 * reaches the client) and when it writes the response itself with `@Res()`.
 * `SessionModule` registers it globally; it is exported for apps that would
 * rather bind it with `@UseInterceptors()`. Non-HTTP contexts pass through.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(private readonly sessions: SessionService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<object>();
    return from(this.sessions.load(request)).pipe(
      mergeMap(() => next.handle()),
      mergeMap((value) => from(this.sessions.commit(request).then(() => value))),
      catchError((error: unknown) =>
        from(this.sessions.commit(request)).pipe(mergeMap(() => throwError(() => error))),
      ),
    );
  }
}
