/**
 * @internal A user's sessions across devices: lists them (`listSessions`),
 * ends them all ("log out everywhere", `destroyAllSessions`) or one by its
 * handle (`destroySession`), through the user index, reporting each ending
 * on the session events.
 */
import type { Logger } from '@nestjs/common';
import { unavailable } from './session.errors.js';
import { descriptionOf } from './session.describe.js';
import type { SessionEvents } from './session.events.js';
import { messages } from './session.messages.js';
import type { UserIndex } from './session.user-index.js';

/**
 * One of a user's sessions, as `SessionService.listSessions` reports it. The
 * `handle` identifies the session for `destroySession`; it is derived from the
 * storage key (a digest), never the session id, so showing it to the user is
 * safe.
 */
export interface UserSession {
  readonly handle: string;
  readonly createdAt: Date;
  /**
   * When the session was last seen: created, regenerated, or written or
   * extended by a request (refreshed at most once a minute, and only by a
   * request that writes or extends the session anyway: with `rolling`, any
   * request; without it, one that changes the session).
   */
  readonly lastSeenAt: Date;
  /** When it ends unless used again; with `rolling`, last use + `maxAge`. */
  readonly expiresAt: Date;
  /** What the `describe` option returned when the session was created or regenerated (`{}` without one). */
  readonly description: Record<string, unknown>;
  /** True for the session of the request passed to `listSessions`. */
  readonly current: boolean;
}

/** @internal The user-session operations behind `SessionService`. */
export class UserSessions {
  constructor(
    private readonly index: UserIndex,
    private readonly emitter: SessionEvents,
    private readonly logger: Logger,
    /** The storage key of a request's session, if it is stored. */
    private readonly currentKey: (request: object) => Promise<string | undefined>,
  ) {}

  /** The user's live sessions, newest first; the session of `request` marked `current`. */
  async list(user: unknown, request?: object): Promise<UserSession[]> {
    const owner = this.index.requireOwner(user);
    const current = request ? await this.currentKey(request) : undefined;
    let entries;
    try {
      entries = await this.index.list(owner);
    } catch (error) {
      throw unavailable(this.logger, 'list', error, messages.loadFailed());
    }
    return entries
      .map((entry) => ({
        handle: entry.id,
        createdAt: new Date(entry.createdAt),
        lastSeenAt: new Date(entry.seenAt ?? entry.createdAt),
        expiresAt: new Date(entry.expiresAt),
        description: descriptionOf(entry.info),
        current: entry.id === current,
      }))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** Ends every session of the user but the one of `except`; resolves to how many ended. */
  async destroyAll(user: unknown, except?: object): Promise<number> {
    const owner = this.index.requireOwner(user);
    const keep = except ? await this.currentKey(except) : undefined;
    try {
      const entries = await this.index.list(owner);
      const ids = entries.map((entry) => entry.id).filter((id) => id !== keep);
      await this.index.end(owner, ids);
      for (const id of ids)
        this.emitter.emit('destroyed', id, user as string | number, 'logout-everywhere');
      return ids.length;
    } catch (error) {
      throw unavailable(this.logger, 'destroy', error, messages.saveFailed());
    }
  }

  /** Ends one session of the user by its handle; false when it is not one of theirs. */
  async destroyOne(user: unknown, handle: string): Promise<boolean> {
    const owner = this.index.requireOwner(user);
    try {
      const entries = await this.index.list(owner);
      if (!entries.some((entry) => entry.id === handle)) return false;
      await this.index.end(owner, [handle]);
      this.emitter.emit('destroyed', handle, user as string | number, 'revoked');
      return true;
    } catch (error) {
      throw unavailable(this.logger, 'destroy', error, messages.saveFailed());
    }
  }
}
