import { expiryOf, ttlUntil, type LifetimeOptions, type RecordMeta } from './session.lifetime.js';
import { type Session, sessionInternals } from './session.js';

/**
 * @internal What the response should do with the session cookie: set it to
 * the id `id` for `maxAge` seconds, or clear it. `value`: the signed value
 * the request came with (the same id, signed with the current key);
 * `resend`: the same signed value again, only its attributes change (the
 * header transport sends neither); `persistent`: the session's own choice of
 * cookie kind.
 */
export type CookieChange =
  { id: string; maxAge: number; value?: string; resend?: boolean; persistent?: boolean } | 'clear';

const internals = sessionInternals();

/** @internal A session's lifetime in seconds: its own (`setMaxAge`), or the module's `maxAge`. */
export function lifetimeOf(options: LifetimeOptions, session: Session): number {
  return internals.lifetime(session).maxAge ?? options.maxAge;
}

/** @internal When `session` expires if it is created, extended or regenerated now. */
export function sessionExpiry(
  options: LifetimeOptions,
  session: Session,
  createdAt: number,
  now: number,
): number {
  return expiryOf(options, createdAt, now, lifetimeOf(options, session));
}

/**
 * @internal The record's metadata, with the session's own lifetime and cookie
 * kind. Fields without a value are left out rather than deleted afterwards,
 * which would turn the object into a slow dictionary.
 */
export function sessionMeta(
  session: Session,
  createdAt: number,
  expiresAt: number,
  indexedAt: number | undefined,
): RecordMeta {
  const { maxAge, persistent } = internals.lifetime(session);
  const meta: RecordMeta = { c: createdAt, e: expiresAt };
  if (indexedAt !== undefined) meta.i = indexedAt;
  if (maxAge !== undefined) meta.m = maxAge;
  if (persistent !== undefined) meta.p = persistent ? 1 : 0;
  return meta;
}

/** @internal The cookie of `session` under id `id`, expiring at `expiresAt`. */
export function sessionCookie(
  session: Session,
  id: string,
  expiresAt: number,
  now: number,
): Exclude<CookieChange, 'clear'> {
  const { persistent } = internals.lifetime(session);
  return { id, maxAge: ttlUntil(expiresAt, now), persistent };
}
