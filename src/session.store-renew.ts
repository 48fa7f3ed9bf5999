import { moveOrCopy, type BackendCapabilities } from './backends/backend-capabilities.js';
import { deltaOf, userKeyChange } from './session.delta.js';
import { writingChanges } from './session.internals.js';
import { recordWith, ttlUntil, type LifetimeOptions } from './session.lifetime.js';
import type { Logins } from './session.logins.js';
import {
  lifetimeOf,
  sessionCookie,
  sessionExpiry,
  sessionMeta,
  type CookieChange,
} from './session.own-lifetime.js';
import { recordOf, setRecord } from './session.record.js';
import { newSessionId, storageKeyOf } from './session.signer.js';
import type { UserIndex } from './session.user-index.js';
import { Session, sessionInternals } from './session.js';

const internals = sessionInternals();

/**
 * @internal A session's new id (after a login): the record moves to it with
 * the request's changes, the user index follows, and the old id ends.
 */
export class SessionRenewal {
  constructor(
    private readonly options: LifetimeOptions,
    private readonly capabilities: BackendCapabilities,
    private readonly index: UserIndex,
    private readonly logins: Logins,
  ) {}

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
      previousId: old?.id,
    });
    const meta = sessionMeta(session, createdAt, expiresAt, owner ? now : undefined);
    if (old) {
      // What is stored moves, with this request's changes (so what other
      // requests changed meanwhile is kept), and the user this request names
      // (the index entry above is made from this request's copy).
      const delta = deltaOf(session, meta, userKeyChange(this.index.userKey, data));
      const moved = await writingChanges(session, () =>
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
      await writingChanges(session, () => this.capabilities.backend.write(storageKey, stored, ttl));
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
}
