import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { COOKIE_VALUE_PATTERN, ID_BYTES } from './session.constants.js';

/** @internal A verified cookie: the session id and which key signed it (0 = the current one). */
export interface UnsignedCookie {
  id: string;
  keyIndex: number;
}

/**
 * @internal Signs session ids with HMAC-SHA256 (base64url) under the first
 * key and verifies under every key, so keys can be rotated without logging
 * users out.
 */
export class SessionSigner {
  constructor(private readonly keys: readonly string[]) {}

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

  private signature(id: string, key: string): string {
    return createHmac('sha256', key).update(id).digest('base64url');
  }
}

/** @internal A new session id: 256 bits from the CSPRNG, base64url (43 characters). */
export function newSessionId(): string {
  return randomBytes(ID_BYTES).toString('base64url');
}

/**
 * The key a backend stores a session under: the SHA-256 digest of the session
 * id, base64url. A dump of the store yields no usable cookie.
 */
export function storageKeyOf(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}
