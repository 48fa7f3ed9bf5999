import type { Describer } from './session.describe.js';
import type { SessionEndReason, SessionEvent, SessionEvents } from './session.events.js';
import type { UserIndex } from './session.user-index.js';
import { type Session, sessionInternals } from './session.js';

const internals = sessionInternals();

/**
 * @internal What the store does when a session becomes a user's (created,
 * regenerated or moved to a user): its index entry with the application's
 * description, under the `maxSessionsPerUser` rule, and the events that
 * report it. Events go out only after the backend confirmed the change.
 */
export class Logins {
  constructor(
    private readonly index: UserIndex,
    private readonly describer: Describer | undefined,
    private readonly events: SessionEvents | undefined,
  ) {}

  /**
   * Indexes session `key` (id `sessionId`, regenerated from `previousId`)
   * for `owner`, described from `request`; sessions ended to make room are reported. Throws a
   * `SessionLimitError` when the limit rejects it.
   */
  async enter(
    owner: string | undefined,
    key: string,
    createdAt: number,
    data: Readonly<Record<string, unknown>>,
    request: object | undefined,
    sessionId: string,
    entry: { replaces?: string; lifetime?: number; previousId?: string } = {},
  ): Promise<void> {
    if (owner === undefined) return;
    const { previousId, ...rest } = entry;
    const info = this.describer?.describeRequest(request, sessionId, previousId);
    const evicted = await this.index.enter(owner, key, createdAt, info, rest);
    for (const ended of evicted) this.report('destroyed', ended, data, 'limit');
  }

  /**
   * After the record of a session `enter` indexed was written: false when a
   * concurrent login evicted it in between (before its record existed, so
   * the eviction could not delete it): the record is deleted now, and reported.
   */
  async confirm(owner: string | undefined, key: string, session: Session): Promise<boolean> {
    if (await this.index.kept(owner, key)) return true;
    this.report('destroyed', key, internals.data(session), 'limit');
    internals.reset(session);
    return false;
  }

  /** Reports a session stored as new (or regenerated), then `confirm`s it. */
  stored(
    type: 'created' | 'regenerated',
    owner: string | undefined,
    key: string,
    session: Session,
  ): Promise<boolean> {
    this.report(type, key, internals.data(session));
    return this.confirm(owner, key, session);
  }

  /** Reports an event about session `key`, naming the user `data` holds. */
  report(
    type: SessionEvent['type'],
    key: string,
    data?: Readonly<Record<string, unknown>>,
    reason?: SessionEndReason,
  ): void {
    this.events?.emit(type, key, data && this.index.userOf(data), reason);
  }
}
