import type { Logger } from '@nestjs/common';
import {
  moveOrCopy,
  patchOrRewrite,
  type BackendCapabilities,
} from './backends/backend-capabilities.js';
import type { SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import { deltaOf, userKeyChange } from './session.delta.js';
import {
  expiryOf,
  isExpired,
  metaOf,
  recordWith,
  touchDue,
  ttlUntil,
  type LifetimeOptions,
} from './session.lifetime.js';
import { messages } from './session.messages.js';
import {
  lifetimeOf,
  sessionCookie,
  sessionExpiry,
  sessionMeta,
  type CookieChange,
} from './session.own-lifetime.js';
import { assignId, recordOf, setRecord } from './session.record.js';
import { newSessionId, storageKeyOf, type VerifiedCookie } from './session.signer.js';
import type { Describer } from './session.describe.js';
import type { SessionEvents } from './session.events.js';
import { Logins } from './session.logins.js';
import type { UserIndex } from './session.user-index.js';
import { isModified, Session, sessionInternals } from './session.js';

/** @internal Work a loaded session still owes the store, beyond its own changes. */
export interface Pending {
  /** A rolling refresh that still has to reach the store. */
  touch: boolean;
  /** The record's metadata and the user index entry are due for a refresh. */
  refresh: boolean;
}

const internals = sessionInternals();

/**
 * @internal The save algorithm: how a session is loaded, saved, regenerated
 * and ended, against the backend, with the lifetime and user-index rules. It
 * knows nothing of requests or responses: it says what the cookie should
 * become, and the request layer applies it. Backend errors propagate.
 */
export class SessionStore {
  private readonly logins: Logins;

  constructor(
    private readonly options: LifetimeOptions,
    private readonly capabilities: BackendCapabilities,
    private readonly index: UserIndex,
    private readonly logger: Logger,
    extras: { describer?: Describer; events?: SessionEvents } = {},
  ) {
    this.logins = new Logins(index, extras.describer, extras.events);
  }

  /**
   * The session a verified cookie names, or a new one when its record is
   * missing, expired or unusable (then removed, with its index entry, so
   * nothing is left that the cookie could reach).
   */
  async load(cookie: VerifiedCookie, pending: Pending): Promise<Session> {
    const { storageKey } = cookie;
    const { rolling, maxAge, touchAfter } = this.options;
    const { backend, readAndTouch } = this.capabilities;
    // With touchAfter, a read only reads: the touch, when due, comes after.
    const touching = rolling && touchAfter === 0 && readAndTouch !== undefined;
    const record = touching
      ? await readAndTouch.readAndTouch(storageKey, maxAge)
      : await backend.read(storageKey);
    if (record === null) {
      this.logins.report('expired', storageKey);
      return new Session();
    }
    const now = Date.now();
    const meta = metaOf(record);
    if (!meta) this.logger.warn(messages.corruptRecord(storageKey));
    if (!meta || isExpired(this.options, this.capabilities.nativeTouch, meta, now)) {
      const removed = await this.discard(storageKey, record);
      if (meta && removed) this.logins.report('expired', storageKey, record);
      return new Session();
    }
    // A rest copy rather than `delete`, which would leave V8 a slow dictionary object.
    const { [META_KEY]: _meta, ...data } = record as Record<string, unknown>;
    const session = new Session(data);
    const own = Number.isFinite(meta.m) && meta.m! > 0 ? meta.m : undefined;
    internals.restoreLifetime(session, {
      maxAge: own,
      persistent: meta.p === undefined ? undefined : meta.p === 1,
    });
    const lifetime = own ?? maxAge;
    const owner = this.index.ownerOf(data);
    const due =
      rolling && (touchAfter === 0 || touchDue(this.options, meta.c, meta.e, now, lifetime));
    const expiresAt = due ? expiryOf(this.options, meta.c, now, lifetime) : meta.e;
    setRecord(session, {
      id: cookie.id,
      storageKey,
      stored: true,
      createdAt: meta.c,
      expiresAt,
      owner,
      indexedAt: meta.i ?? 0,
    });
    // The entry is due for a refresh, or for a new lastSeenAt when this
    // request extends the session anyway (rolling, and the touch is due).
    pending.refresh =
      owner !== undefined &&
      (this.index.stale(meta.i ?? 0, now, lifetime) ||
        (due && this.index.seenDue(meta.i ?? 0, now, lifetime)));
    // readAndTouch extended the record by maxAge; near absoluteTimeout that is
    // too far, and for a session with a lifetime of its own it is not that
    // lifetime: the save step sets it right.
    pending.touch = due && (!touching || lifetime !== maxAge || ttlUntil(expiresAt, now) < maxAge);
    return session;
  }

  /**
   * The cookie a loaded session gets at once: re-sent when rolling (the same
   * `value`, when signed with the current key), re-signed when an older key
   * signed it.
   */
  loadedCookie(
    session: Session,
    cookie: VerifiedCookie,
    value: string,
    pending: Pending,
  ): CookieChange | undefined {
    const record = recordOf(session);
    if (!record?.stored) return undefined;
    const { rolling, touchAfter } = this.options;
    const extended = rolling && (touchAfter === 0 || pending.touch);
    if (!extended && cookie.keyIndex === 0) return undefined;
    const change = sessionCookie(session, record.id, record.expiresAt, Date.now());
    return cookie.keyIndex === 0 ? { ...change, value, resend: true } : change;
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
      if (pending.touch) return this.touch(session, expiresAt, now, pending);
      return undefined;
    }
    // A change, or metadata due for a refresh: write only what changed.
    const owner = this.index.ownerOf(internals.data(session));
    const reindex =
      owner !== undefined &&
      (owner !== record.owner ||
        pending.refresh ||
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
    const applied = await this.writing(session, () =>
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

  /**
   * Gives the session a new id, keeping its data and its first creation
   * time. A stored session moves only if its record still exists; when it
   * is gone, the session becomes new and empty and nothing is stored.
   */
  async regenerate(session: Session, request?: object): Promise<CookieChange | undefined> {
    internals.check(session);
    const old = recordOf(session)?.stored ? recordOf(session) : undefined;
    if (session.keys().length === 0) {
      if (old) {
        await this.index.end(old.owner, [old.storageKey]);
        this.logins.report('destroyed', old.storageKey, internals.data(session), 'cleared');
      }
      internals.reset(session);
      return old ? 'clear' : undefined;
    }
    const id = newSessionId();
    const storageKey = storageKeyOf(id);
    const now = Date.now();
    const createdAt = old ? old.createdAt : now;
    const expiresAt = sessionExpiry(this.options, session, createdAt, now);
    const ttl = ttlUntil(expiresAt, now);
    const data = internals.data(session);
    const owner = this.index.ownerOf(data);
    // Indexed before it exists: a failure in between leaves a dead entry
    // (pruned later), never a live session that "log out everywhere" misses.
    const replaces = old && old.owner === owner ? old.storageKey : undefined;
    const lifetime = lifetimeOf(this.options, session);
    await this.logins.enter(owner, storageKey, createdAt, data, request, id, {
      replaces,
      lifetime,
    });
    const meta = sessionMeta(session, createdAt, expiresAt, owner ? now : undefined);
    if (old) {
      // What is stored moves, with this request's changes (so what other
      // requests changed meanwhile is kept), and the user this request names
      // (the index entry above is made from this request's copy).
      const delta = deltaOf(session, meta, userKeyChange(this.index.userKey, data));
      const moved = await this.writing(session, () =>
        moveOrCopy(this.capabilities, old.storageKey, storageKey, delta, ttl),
      );
      if (!moved) {
        await this.index.remove(owner, storageKey);
        await this.index.remove(old.owner, old.storageKey);
        internals.reset(session);
        return undefined;
      }
      await this.index.remove(old.owner, old.storageKey);
    } else {
      const stored = recordWith(data, meta);
      await this.writing(session, () => this.capabilities.backend.write(storageKey, stored, ttl));
    }
    const type = old ? 'regenerated' : 'created';
    if (!(await this.logins.stored(type, owner, storageKey, session))) return 'clear';
    setRecord(session, {
      id,
      storageKey,
      stored: true,
      createdAt,
      expiresAt,
      owner,
      indexedAt: now,
    });
    return sessionCookie(session, id, expiresAt, now);
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
    await this.writing(session, () => this.capabilities.backend.write(key, stored, ttl));
    if (recordOf(session)?.storageKey !== key) {
      // Reset (destroyed, regenerated) while the write ran: nothing of it may remain.
      await this.index.end(owner, [key]);
      return undefined;
    }
    if (!(await this.logins.stored('created', owner, key, session))) return 'clear';
    Object.assign(record, { stored: true, createdAt: now, expiresAt, owner, indexedAt: now });
    return sessionCookie(session, record.id, expiresAt, now);
  }

  /**
   * A rolling extension of a session that changed nothing. Never the data
   * this request loaded: a logout or another request's change that completed
   * meanwhile must not be undone. With `touchAfter`, the record's expiry is
   * written too (only the metadata), which is what tells the next request
   * whether its touch is due.
   */
  private async touch(
    session: Session,
    expiresAt: number,
    now: number,
    pending: Pending,
  ): Promise<undefined> {
    const record = recordOf(session)!;
    const ttl = ttlUntil(expiresAt, now);
    pending.touch = false;
    if (this.options.touchAfter === 0) {
      await this.capabilities.backend.touch(record.storageKey, ttl);
    } else {
      const meta = sessionMeta(
        session,
        record.createdAt,
        expiresAt,
        record.owner ? record.indexedAt : undefined,
      );
      if (
        !(await patchOrRewrite(this.capabilities, record.storageKey, deltaOf(session, meta), ttl))
      ) {
        // Ended meanwhile: not brought back.
        await this.index.remove(record.owner, record.storageKey);
        internals.reset(session);
        return undefined;
      }
    }
    record.expiresAt = expiresAt;
    return undefined;
  }

  /**
   * Runs a backend write built from the session's current changes: they are
   * taken now, so that what changes while it runs is saved next time; when
   * it fails, they are pending again.
   */
  private async writing<T>(session: Session, write: () => Promise<T>): Promise<T> {
    const taken = internals.take(session);
    try {
      return await write();
    } catch (error) {
      internals.restore(session, taken);
      throw error;
    }
  }

  /** Best-effort removal of an expired or unusable record, with its index entry when it names its user. */
  private async discard(storageKey: string, record: SessionData): Promise<boolean> {
    try {
      await this.index.end(this.index.ownerOf(record), [storageKey]);
      return true;
    } catch (error) {
      this.logger.warn(`Could not remove an expired session: ${(error as Error).message}`);
      return false;
    }
  }
}
