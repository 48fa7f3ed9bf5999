import type { Logger } from '@nestjs/common';
import { patchOrRewrite, type BackendCapabilities } from './backends/backend-capabilities.js';
import { deltaOf } from './session.delta.js';
import { recordWith, ttlUntil, type LifetimeOptions } from './session.lifetime.js';
import { messages } from './session.messages.js';
import {
  lifetimeOf,
  sessionCookie,
  sessionExpiry,
  sessionMeta,
  type CookieChange,
} from './session.own-lifetime.js';
import { assignId, recordOf } from './session.record.js';
import type { VerifiedCookie } from './session.signer.js';
import type { Describer } from './session.describe.js';
import type { SessionEvents } from './session.events.js';
import { Logins } from './session.logins.js';
import { SessionLoader, type Pending } from './session.store-load.js';
import { SessionRenewal } from './session.store-renew.js';
import { writingChanges } from './session.internals.js';
import type { UserIndex } from './session.user-index.js';
import { isModified, Session, sessionInternals } from './session.js';

export type { Pending };

const internals = sessionInternals();

/**
 * @internal The save algorithm: how a session is loaded, saved, regenerated
 * and ended, against the backend, with the lifetime and user-index rules. It
 * knows nothing of requests or responses: it says what the cookie should
 * become, and the request layer applies it. Backend errors propagate.
 */
export class SessionStore {
  private readonly logins: Logins;
  private readonly loader: SessionLoader;
  private readonly renewal: SessionRenewal;

  constructor(
    private readonly options: LifetimeOptions,
    private readonly capabilities: BackendCapabilities,
    private readonly index: UserIndex,
    private readonly logger: Logger,
    extras: { describer?: Describer; events?: SessionEvents } = {},
  ) {
    this.logins = new Logins(index, extras.describer, extras.events);
    this.loader = new SessionLoader(options, capabilities, index, logger, this.logins);
    this.renewal = new SessionRenewal(options, capabilities, index, this.logins);
  }

  /** See `SessionLoader.load`. */
  load(cookie: VerifiedCookie, pending: Pending): Promise<Session> {
    return this.loader.load(cookie, pending);
  }

  /** See `SessionLoader.loadedCookie`. */
  loadedCookie(
    session: Session,
    cookie: VerifiedCookie,
    value: string,
    pending: Pending,
  ): CookieChange | undefined {
    return this.loader.loadedCookie(session, cookie, value, pending);
  }

  /**
   * The synchronous part of saving, safe just before headers go out: a new
   * session with data gets its id (and cookie), an emptied stored one a
   * clearing cookie.
   */
  prepare(session: Session): CookieChange | undefined {
    if (!isModified(session)) return undefined;
    const record = recordOf(session);
    const empty = session.keys().length === 0;
    const now = Date.now();
    if (!record && !empty) {
      const created = assignId(session);
      return sessionCookie(
        session,
        created.id,
        sessionExpiry(this.options, session, now, now),
        now,
      );
    }
    if (record?.stored && !empty && internals.lifetimeChanged(session)) {
      // Its lifetime changed: the cookie's attributes follow.
      const expiresAt = sessionExpiry(this.options, session, record.createdAt, now);
      return { ...sessionCookie(session, record.id, expiresAt, now), resend: true };
    }
    return record?.stored && empty ? 'clear' : undefined;
  }

  /**
   * Saves what changed (and what `pending` owes). `headersSent`: a new
   * session's cookie could no longer be sent, so it is not stored.
   * `request` is what the `describe` option is given for a new index entry.
   */
  async save(
    session: Session,
    pending: Pending,
    headersSent: boolean,
    request?: object,
  ): Promise<CookieChange | undefined> {
    internals.check(session);
    const record = recordOf(session);
    const now = Date.now();
    if (!record?.stored) return this.create(session, headersSent, now, request);
    const { storageKey: key } = record;
    const modified = isModified(session);
    if (modified && session.keys().length === 0) {
      await this.index.end(record.owner, [key]);
      this.logins.report('destroyed', key, internals.data(session), 'cleared');
      internals.reset(session);
      return 'clear';
    }
    // Without rolling the expiry is fixed at creation (or when the lifetime
    // changed); with it, it slides, when a change or a touch is due.
    const lifetimeChanged = internals.lifetimeChanged(session);
    const expiresAt =
      lifetimeChanged || (this.options.rolling && (modified || pending.touch || pending.refresh))
        ? sessionExpiry(this.options, session, record.createdAt, now)
        : record.expiresAt;
    const ttl = ttlUntil(expiresAt, now);
    if (!modified && !pending.refresh) {
      if (pending.touch) return this.loader.touch(session, expiresAt, now, pending);
      return undefined;
    }
    // A change, or metadata due for a refresh: write only what changed.
    const owner = this.index.ownerOf(internals.data(session));
    const reindex =
      owner !== undefined &&
      (owner !== record.owner ||
        pending.refresh ||
        lifetimeChanged ||
        this.index.seenDue(record.indexedAt, now, lifetimeOf(this.options, session)) ||
        this.index.stale(record.indexedAt, now, lifetimeOf(this.options, session)));
    const entered = reindex && owner !== record.owner;
    const lifetime = lifetimeOf(this.options, session);
    if (entered) {
      // Now this user's: a new entry, as at a login.
      const data = internals.data(session);
      await this.logins.enter(owner, key, record.createdAt, data, request, record.id, {
        lifetime,
      });
    } else if (reindex) {
      await this.index.add(owner, key, record.createdAt, lifetime);
    }
    const indexedAt = reindex ? now : record.indexedAt;
    const meta = sessionMeta(session, record.createdAt, expiresAt, owner ? indexedAt : undefined);
    const delta = deltaOf(session, meta);
    const applied = await writingChanges(session, () =>
      patchOrRewrite(this.capabilities, key, delta, ttl),
    );
    pending.touch = false;
    pending.refresh = false;
    if (!applied) {
      // Ended by another request meanwhile (or unreadable, and removed):
      // don't bring it back. The cookie is left alone: a dead id is
      // harmless, and the browser may hold a newer cookie by now.
      await this.index.remove(owner, key);
      if (record.owner !== owner) await this.index.remove(record.owner, key);
      internals.reset(session);
      return undefined;
    }
    if (record.owner !== undefined && record.owner !== owner) {
      await this.index.remove(record.owner, key);
    }
    if (recordOf(session)?.storageKey !== key) {
      // Ended by this request while the write ran: it stays ended.
      await this.index.end(owner, [key]);
      return undefined;
    }
    if (entered && !(await this.logins.confirm(owner, key, session))) return 'clear';
    Object.assign(record, { owner, indexedAt, expiresAt });
    return lifetimeChanged
      ? { ...sessionCookie(session, record.id, expiresAt, now), resend: true }
      : undefined;
  }

  /** See `SessionRenewal.regenerate`. */
  regenerate(session: Session, request?: object): Promise<CookieChange | undefined> {
    return this.renewal.regenerate(session, request);
  }

  /** Deletes a stored session's record and index entry; the session becomes new and empty. */
  async destroy(session: Session): Promise<void> {
    await this.end(session);
    internals.reset(session);
  }

  /** Deletes a stored session's record and index entry, leaving the object as it is. */
  async end(session: Session): Promise<void> {
    const record = recordOf(session);
    if (record?.stored) {
      await this.index.end(record.owner, [record.storageKey]);
      this.logins.report('destroyed', record.storageKey, internals.data(session), 'logout');
    }
  }

  /** A new session's first save: nothing unless it has data. */
  private async create(
    session: Session,
    headersSent: boolean,
    now: number,
    request: object | undefined,
  ): Promise<CookieChange | undefined> {
    if (!isModified(session)) return undefined;
    if (session.keys().length === 0) {
      internals.saved(session);
      return undefined;
    }
    let record = recordOf(session);
    if (!record) {
      // Its cookie can no longer be sent: nobody could reach the record.
      if (headersSent) {
        this.logger.warn(messages.cookieTooLate());
        internals.saved(session);
        return undefined;
      }
      record = assignId(session);
    }
    const expiresAt = sessionExpiry(this.options, session, now, now);
    const ttl = ttlUntil(expiresAt, now);
    const data = internals.data(session);
    const owner = this.index.ownerOf(data);
    await this.logins.enter(owner, record.storageKey, now, data, request, record.id, {
      lifetime: lifetimeOf(this.options, session),
    });
    const meta = sessionMeta(session, now, expiresAt, owner ? now : undefined);
    const stored = recordWith(data, meta);
    const key = record.storageKey;
    await writingChanges(session, () => this.capabilities.backend.write(key, stored, ttl));
    if (recordOf(session)?.storageKey !== key) {
      // Reset (destroyed, regenerated) while the write ran: nothing of it may remain.
      await this.index.end(owner, [key]);
      return undefined;
    }
    if (!(await this.logins.stored('created', owner, key, session))) return 'clear';
    Object.assign(record, { stored: true, createdAt: now, expiresAt, owner, indexedAt: now });
    return sessionCookie(session, record.id, expiresAt, now);
  }
}
