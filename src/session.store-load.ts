import type { Logger } from '@nestjs/common';
import { patchOrRewrite, type BackendCapabilities } from './backends/backend-capabilities.js';
import type { SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import { deltaOf } from './session.delta.js';
import {
  expiryOf,
  isExpired,
  metaOf,
  touchDue,
  ttlUntil,
  type LifetimeOptions,
} from './session.lifetime.js';
import type { Logins } from './session.logins.js';
import { messages } from './session.messages.js';
import { sessionCookie, sessionMeta, type CookieChange } from './session.own-lifetime.js';
import { recordOf, setRecord } from './session.record.js';
import type { VerifiedCookie } from './session.signer.js';
import type { UserIndex } from './session.user-index.js';
import { Session, sessionInternals } from './session.js';

/** @internal Work a loaded session still owes the store, beyond its own changes. */
export interface Pending {
  /** A rolling refresh that still has to reach the store. */
  touch: boolean;
  /** The record's metadata and the user index entry are due for a refresh. */
  refresh: boolean;
}

const internals = sessionInternals();

/**
 * @internal How a stored session is loaded and kept alive: what its record
 * says about its lifetime, whether a rolling touch or an index refresh is
 * due (noted in `Pending` for the save step), the cookie it gets at once,
 * and the touch of a session that changed nothing.
 */
export class SessionLoader {
  constructor(
    private readonly options: LifetimeOptions,
    private readonly capabilities: BackendCapabilities,
    private readonly index: UserIndex,
    private readonly logger: Logger,
    private readonly logins: Logins,
  ) {}

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

  /**
   * A rolling extension of a session that changed nothing. Never the data
   * this request loaded: a logout or another request's change that completed
   * meanwhile must not be undone. With `touchAfter`, the record's expiry is
   * written too (only the metadata), which is what tells the next request
   * whether its touch is due.
   */
  async touch(
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
}
