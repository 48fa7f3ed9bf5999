import type { SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import { SessionOptionsError } from './session.errors.js';
import { messages } from './session.messages.js';

/**
 * @internal What the module keeps in every stored record besides the
 * application's keys, under `META_KEY`.
 */
export interface RecordMeta {
  /** First created (survives `regenerate`), ms since the epoch. */
  c: number;
  /** Expires, ms since the epoch (checked on load, whatever the store's TTL says). */
  e: number;
  /** When the user index entry was last refreshed (only with `userKey`). */
  i?: number;
  /** The session's own lifetime in seconds (`session.setMaxAge`), when it has one. */
  m?: number;
  /** 0: the session's cookie is a browser-session cookie; 1: persistent (absent: the module's choice). */
  p?: 0 | 1;
}

/** @internal The options the lifetime rules read. */
export interface LifetimeOptions {
  readonly maxAge: number;
  readonly rolling: boolean;
  readonly absoluteTimeout: number | undefined;
  readonly touchAfter: number;
}

/** @internal The record's metadata, or undefined when it has none worth trusting. */
export function metaOf(record: SessionData): RecordMeta | undefined {
  const meta = (record !== null && typeof record === 'object' ? record[META_KEY] : undefined) as
    Partial<RecordMeta> | undefined;
  return meta && Number.isFinite(meta.c) && Number.isFinite(meta.e)
    ? (meta as RecordMeta)
    : undefined;
}

/**
 * @internal When a session first created at `createdAt` expires if it is
 * created, extended or regenerated now: `maxAge` from now, capped by
 * `absoluteTimeout` from its first creation. (Without `rolling`, a save keeps
 * the expiry it has: the lifetime is fixed.)
 */
export function expiryOf(
  options: LifetimeOptions,
  createdAt: number,
  now: number,
  maxAge = options.maxAge,
): number {
  const sliding = now + maxAge * 1000;
  return options.absoluteTimeout === undefined
    ? sliding
    : Math.min(sliding, createdAt + options.absoluteTimeout * 1000);
}

/**
 * @internal With `rolling` and `touchAfter`, true when a request that
 * changes nothing is due to extend a session expiring at `expiresAt`: its
 * expiry would move by at least `touchAfter` (scaled down for a session whose
 * own lifetime is shorter than `maxAge`, so that it is extended before it
 * ends). Near `absoluteTimeout` nothing moves, and nothing is due.
 */
export function touchDue(
  options: LifetimeOptions,
  createdAt: number,
  expiresAt: number,
  now: number,
  maxAge: number,
): boolean {
  const { touchAfter } = options;
  const after = Math.min(touchAfter, (touchAfter * maxAge) / options.maxAge);
  const next = expiryOf(options, createdAt, now, maxAge);
  return next > expiresAt && next - expiresAt >= after * 1000;
}

/** @internal The `touchAfter` option, validated. */
export function resolveTouchAfter(value: unknown, maxAge: number, rolling: boolean): number {
  const touchAfter = value ?? 0;
  if (typeof touchAfter !== 'number' || !Number.isFinite(touchAfter) || touchAfter < 0) {
    throw new SessionOptionsError(
      messages.invalidOption('touchAfter', 'a number of seconds, 0 or more', touchAfter),
    );
  }
  if (touchAfter >= maxAge) {
    throw new SessionOptionsError(messages.touchAfterTooLong(touchAfter, maxAge));
  }
  if (touchAfter > 0 && !rolling) throw new SessionOptionsError(messages.touchAfterNotRolling());
  return touchAfter;
}

/** @internal Store TTL and cookie Max-Age, in whole seconds (at least 1), until `expiresAt`. */
export function ttlUntil(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}

/**
 * @internal True when a record with `meta` must not be served. With
 * `rolling` on a backend whose `touch` extends the store's TTL, the sliding
 * window is that TTL (the record's own expiry is the one of its last write).
 */
export function isExpired(
  options: LifetimeOptions,
  nativeTouch: boolean,
  meta: RecordMeta,
  now: number,
): boolean {
  const { absoluteTimeout, rolling } = options;
  if (absoluteTimeout !== undefined && now >= meta.c + absoluteTimeout * 1000) return true;
  if (rolling && nativeTouch) return false;
  return now >= meta.e;
}

/** @internal The record to store: the application's data and the metadata. */
export function recordWith(data: Readonly<Record<string, unknown>>, meta: RecordMeta): SessionData {
  return { ...data, [META_KEY]: meta };
}
