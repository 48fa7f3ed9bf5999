import { metaOf } from '../session.lifetime.js';
import {
  applyDelta,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  SessionBackend,
  type SessionLimit,
  type SessionData,
  type SessionDelta,
} from './session-backend.js';

/** `read` and `touch` in one round trip. */
export interface ReadAndTouchCapability {
  readAndTouch(id: string, ttlSeconds: number): Promise<SessionData | null>;
}

/** Delta writes: only the changed keys, atomically, and only to a record that exists. */
export interface PatchCapability {
  patch(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean>;
}

/** `regenerate` in one step: what is stored moves to a new key, if it still exists. */
export interface MoveCapability {
  move(oldId: string, newId: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean>;
}

/** The user index behind the `userKey` option. */
export interface UserIndexCapability {
  indexAdd(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): Promise<void>;
  indexRemove(owner: string, id: string): Promise<void>;
  indexList(owner: string): Promise<IndexedSession[]>;
  indexDestroy?(owner: string, ids: readonly string[]): Promise<void>;
}

/** The `maxSessionsPerUser` rule, applied atomically while indexing a session. */
export interface SessionLimitCapability {
  indexAddLimited(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
  ): Promise<LimitedAdd>;
  indexHas?(owner: string, id: string): Promise<boolean>;
}

export function hasReadAndTouch(
  backend: SessionBackend,
): backend is SessionBackend & ReadAndTouchCapability {
  return typeof backend.readAndTouch === 'function';
}

export function hasPatch(backend: SessionBackend): backend is SessionBackend & PatchCapability {
  return typeof backend.patch === 'function';
}

export function hasMove(backend: SessionBackend): backend is SessionBackend & MoveCapability {
  return typeof backend.move === 'function';
}

export function hasSessionLimit(
  backend: SessionBackend,
): backend is SessionBackend & SessionLimitCapability {
  return hasUserIndex(backend) && typeof backend.indexAddLimited === 'function';
}

export function hasUserIndex(
  backend: SessionBackend,
): backend is SessionBackend & UserIndexCapability {
  return (
    typeof backend.indexAdd === 'function' &&
    typeof backend.indexRemove === 'function' &&
    typeof backend.indexList === 'function'
  );
}

/**
 * True when the backend's `touch` is its own rather than the default (which
 * re-reads and rewrites the record). The default is recognised by identity,
 * or by its source text when the backend extends another copy of this
 * package (a CommonJS and an ES module build loaded side by side).
 */
export function hasNativeTouch(backend: SessionBackend): boolean {
  const touch: unknown = backend.touch;
  const fallback = SessionBackend.prototype.touch;
  return touch !== fallback && String(touch) !== String(fallback);
}

/**
 * @internal What a backend can do beyond the four required methods, resolved
 * once at startup: each capability is the backend itself, typed, or absent.
 */
export interface BackendCapabilities {
  readonly backend: SessionBackend;
  readonly readAndTouch: ReadAndTouchCapability | undefined;
  readonly patch: PatchCapability | undefined;
  readonly move: MoveCapability | undefined;
  readonly index: UserIndexCapability | undefined;
  readonly limit: SessionLimitCapability | undefined;
  /** `touch` extends the store's TTL without rewriting the record. */
  readonly nativeTouch: boolean;
}

/** @internal */
export function capabilitiesOf(backend: SessionBackend): BackendCapabilities {
  return {
    backend,
    readAndTouch: hasReadAndTouch(backend) ? backend : undefined,
    patch: hasPatch(backend) ? backend : undefined,
    move: hasMove(backend) ? backend : undefined,
    index: hasUserIndex(backend) ? backend : undefined,
    limit: hasSessionLimit(backend) ? backend : undefined,
    nativeTouch: hasNativeTouch(backend),
  };
}

/**
 * @internal Applies `delta` to the record under `key`; false when it is gone.
 * With `patch`, atomically. Without it, the record is re-read and the delta
 * applied to what is stored now, so the window in which another request's
 * change or a logout can be lost shrinks from the whole request to one round
 * trip.
 */
export async function patchOrRewrite(
  capabilities: BackendCapabilities,
  key: string,
  delta: SessionDelta,
  ttlSeconds: number,
): Promise<boolean> {
  const { backend, patch } = capabilities;
  if (patch) return patch.patch(key, delta, ttlSeconds);
  const current = await backend.read(key);
  if (current === null || !metaOf(current)) return false;
  await backend.write(key, applyDelta(current, delta), ttlSeconds);
  return true;
}

/**
 * @internal Moves the record under `oldKey` to `newKey` with `delta`, only if
 * it still exists; false when it does not. With `move`, in one step; without
 * it, re-read, deleted, then written under the new key.
 */
export async function moveOrCopy(
  capabilities: BackendCapabilities,
  oldKey: string,
  newKey: string,
  delta: SessionDelta,
  ttlSeconds: number,
): Promise<boolean> {
  const { backend, move } = capabilities;
  if (move) return move.move(oldKey, newKey, delta, ttlSeconds);
  const current = await backend.read(oldKey);
  if (current === null || !metaOf(current)) return false;
  await backend.destroy(oldKey);
  await backend.write(newKey, applyDelta(current, delta), ttlSeconds);
  return true;
}
