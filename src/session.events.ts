import type { Logger } from '@nestjs/common';
import {
  Observable,
  Subject,
  Subscriber as RxSubscriber,
  type Observer,
  type Operator,
  type Subscription,
} from 'rxjs';

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

/** A subscriber's callbacks, as `subscribe` takes them. */
type Subscriber<T> = Partial<Observer<T>> | ((value: T) => void) | null | undefined;

/**
 * An Observable whose subscribers cannot hurt anyone: an error a subscriber
 * throws (or an error reaching a subscriber without an error callback,
 * through operators piped onto it) is logged, not rethrown. rxjs would
 * rethrow it asynchronously, where it ends the process; and the other
 * subscribers and the request that caused the event go on regardless.
 * Operators piped onto it give Observables of the same kind.
 */
class GuardedObservable<T> extends Observable<T> {
  constructor(
    private readonly logger: Logger,
    subscribe?: (this: Observable<T>, subscriber: RxSubscriber<T>) => void,
  ) {
    super(subscribe);
  }

  /** @internal rxjs calls this for each operator piped onto it. */
  override lift<R>(operator?: Operator<T, R>): Observable<R> {
    const lifted = new GuardedObservable<R>(this.logger);
    lifted.source = this;
    lifted.operator = operator;
    return lifted;
  }

  override subscribe(
    observerOrNext?: Subscriber<T>,
    error?: ((error: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    // An operator's own subscriber passes errors on to the next one, which
    // ends at a guarded one; it stays itself, so unsubscribing reaches it.
    if (observerOrNext instanceof RxSubscriber) return super.subscribe(observerOrNext);
    const observer =
      typeof observerOrNext === 'function' || observerOrNext == null
        ? {
            next: observerOrNext ?? undefined,
            error: error ?? undefined,
            complete: complete ?? undefined,
          }
        : observerOrNext;
    const guard =
      <A extends unknown[]>(callback: ((...args: A) => void) | undefined) =>
      (...args: A) => {
        try {
          callback?.call(observer, ...args);
        } catch (thrown) {
          this.failed(thrown);
        }
      };
    return super.subscribe({
      next: guard(observer.next),
      error: observer.error ? guard(observer.error) : (thrown: unknown) => this.failed(thrown),
      complete: guard(observer.complete),
    });
  }

  private failed(thrown: unknown): void {
    const detail = thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown);
    this.logger.error(`A subscriber of SessionService.events failed: ${detail}`);
  }
}

/** @internal Where the store reports events. */
export class SessionEvents {
  private readonly subject = new Subject<SessionEvent>();
  readonly observable: Observable<SessionEvent>;

  constructor(logger: Logger) {
    const { subject } = this;
    this.observable = new GuardedObservable<SessionEvent>(logger, (subscriber) =>
      subject.subscribe(subscriber),
    );
  }

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
