import { Subject, type Observable } from 'rxjs';

/** Why a session was ended, on a `destroyed` event. */
export type SessionEndReason = 'logout' | 'logout-everywhere' | 'revoked' | 'limit' | 'cleared';

/**
 * A change in a session's life, as `SessionService.events` reports it, after
 * the backend confirmed it (a change that failed is never reported).
 *
 * - `created`: a new session was first stored (its first save, or
 *   `regenerate` of a session that was not stored yet).
 * - `regenerated`: a stored session moved to a new id; `handle` is the new one.
 * - `destroyed`: a session was ended, for `reason`: `logout` (`destroy`),
 *   `logout-everywhere` (`destroyAllSessions`), `revoked` (`destroySession`),
 *   `limit` (evicted by `maxSessionsPerUser`) or `cleared` (emptied with
 *   `clear()` and saved).
 * - `expired`: a request brought a validly signed cookie whose session is no
 *   longer there (its lifetime ran out, or it was ended by other means and
 *   the browser kept the cookie), or whose record was found past its expiry
 *   or `absoluteTimeout` (then removed; `user` is known only then). Sessions
 *   whose browser never comes back are not reported, and a browser that keeps
 *   sending such a cookie is reported on each request until it gets a new one.
 *
 * `handle` is the one `listSessions` reports (a digest, never the session
 * id); `user` is the value under `userKey` when the session names a user.
 */
export interface SessionEvent {
  readonly type: 'created' | 'regenerated' | 'destroyed' | 'expired';
  readonly handle: string;
  readonly user?: string | number;
  readonly reason?: SessionEndReason;
}

/** @internal Where the store reports events. */
export class SessionEvents {
  private readonly subject = new Subject<SessionEvent>();
  readonly observable: Observable<SessionEvent> = this.subject.asObservable();

  emit(
    type: SessionEvent['type'],
    handle: string,
    user?: string | number,
    reason?: SessionEndReason,
  ): void {
    const event: SessionEvent = {
      type,
      handle,
      ...(user !== undefined && { user }),
      ...(reason !== undefined && { reason }),
    };
    this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
  }
}
