import {
  createHmac,
  createSecretKey,
  hash,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { COOKIE_VALUE_PATTERN, ID_BYTES } from './session.constants.js';

/** @internal A verified cookie: the session id and which key signed it (0 = the current one). */
export interface UnsignedCookie {
  id: string;
  keyIndex: number;
}

/** @internal A cookie whose signature verified, with the storage key of its id. */
export interface VerifiedCookie extends UnsignedCookie {
  storageKey: string;
}

/** Most verified cookie values remembered; the cache starts over when full. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * @internal Signs session ids with HMAC-SHA256 (base64url) under the first
 * key and verifies under every key, so keys can be rotated without logging
 * users out.
 */
export class SessionSigner {
  private readonly verified = new Map<string, VerifiedCookie>();
  /** The keys as key objects, made once rather than on every HMAC. */
  private readonly keys: readonly KeyObject[];

  constructor(keys: readonly string[]) {
    this.keys = keys.map((key) => createSecretKey(key, 'utf8'));
  }

  /**
   * Checks a cookie value, remembering values that verified: a returning
   * browser sends the same value on every request, and the HMAC and the
   * storage-key digest need computing only once. Only values that verified
   * are kept, at most `VERIFIED_CACHE_SIZE` of them.
   */
  verify(value: string): VerifiedCookie | undefined {
    const cached = this.verified.get(value);
    if (cached) return cached;
    const cookie = this.unsign(value);
    if (!cookie) return undefined;
    const verified = { ...cookie, storageKey: storageKeyOf(cookie.id) };
    // Starting over when full is cheaper than keeping an order (and churning the Map).
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
    this.verified.set(value, verified);
    return verified;
  }

  /** `<id>.<signature>` signed with the first key. */
  sign(id: string): string {
    return `${id}.${this.signature(id, this.keys[0])}`;
  }

  /** The id and key index when `value` is well formed and its signature verifies, else null. */
  unsign(value: string): UnsignedCookie | null {
    if (!COOKIE_VALUE_PATTERN.test(value)) return null;
    const dot = value.indexOf('.');
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    for (let keyIndex = 0; keyIndex < this.keys.length; keyIndex += 1) {
      const expected = Buffer.from(this.signature(id, this.keys[keyIndex]));
      if (timingSafeEqual(given, expected)) return { id, keyIndex };
    }
    return null;
  }

  private signature(id: string, key: KeyObject): string {
    return createHmac('sha256', key).update(id).digest('base64url');
  }
}

/** Ids drawn from one call to the CSPRNG; each byte of the pool is used once. */
const POOLED_IDS = 128;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/**
 * @internal A new session id: 256 bits from the CSPRNG, base64url (43
 * characters). The bytes come from a pool filled `POOLED_IDS` ids at a time,
 * as Node does for `randomUUID()`: one call into the CSPRNG per 128 new
 * sessions instead of one per session.
 */
export function newSessionId(): string {
  if (poolOffset + ID_BYTES > pool.length) {
    pool = randomBytes(ID_BYTES * POOLED_IDS);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  // Zeroed once used: a later read of the pool never yields a live id.
  pool.fill(0, poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

/**
 * The key a backend stores a session under: the SHA-256 digest of the session
 * id, base64url. A dump of the store yields no usable cookie.
 */
export function storageKeyOf(sessionId: string): string {
  return hash('sha256', sessionId, 'base64url');
}
