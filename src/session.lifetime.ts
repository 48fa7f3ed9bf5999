import type { SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';

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
}

/** @internal The options the lifetime rules read. */
export interface LifetimeOptions {
  readonly maxAge: number;
  readonly rolling: boolean;
  readonly absoluteTimeout: number | undefined;
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
export function expiryOf(options: LifetimeOptions, createdAt: number, now: number): number {
  const sliding = now + options.maxAge * 1000;
  return options.absoluteTimeout === undefined
    ? sliding
    : Math.min(sliding, createdAt + options.absoluteTimeout * 1000);
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
  return { ...data, [META_KEY]: withoutEmptyIndexTime(meta) };
}

/** @internal `meta` without an `i` that is undefined (JSON would drop it anyway). */
export function withoutEmptyIndexTime(meta: RecordMeta): RecordMeta {
  if (meta.i === undefined) delete meta.i;
  return meta;
}
