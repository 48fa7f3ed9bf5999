import { messages } from './session.messages.js';
import type { ResolvedSessionOptions } from './session.options.js';

/** @internal Longest Cookie header we look into; longer ones are treated as carrying no session. */
const MAX_HEADER_LENGTH = 16_384;

/**
 * @internal The value of cookie `name` in a Cookie request header, or
 * undefined when it is absent, present more than once, or the header is
 * oversized. A duplicated session cookie is ambiguous (which one did the
 * browser mean?), so it counts as no session at all; common cookie parsers
 * silently keep the first or the last, which is why this small scanner is
 * our own.
 */
export function readCookie(
  header: string | string[] | undefined,
  name: string,
): string | undefined {
  if (typeof header !== 'string') {
    if (!Array.isArray(header)) return undefined;
    header = header.join('; ');
  }
  if (header.length > MAX_HEADER_LENGTH || !header.includes(name)) return undefined;
  let found: string | undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      if (found !== undefined) return undefined;
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1);
      found = value;
    }
    start = end + 1;
  }
  return found;
}

/**
 * @internal A Set-Cookie header value for the session cookie. `maxAge` in
 * seconds; 0 clears the cookie. Attribute values were validated at startup.
 */
export function serializeCookie(
  options: ResolvedSessionOptions,
  value: string,
  maxAge: number,
  now = Date.now(),
): string {
  const { cookie } = options;
  let header = `${options.cookieName}=${value}; Max-Age=${maxAge}; Expires=${new Date(
    maxAge > 0 ? now + maxAge * 1000 : 0,
  ).toUTCString()}; Path=${cookie.path}`;
  if (cookie.domain) header += `; Domain=${cookie.domain}`;
  if (cookie.httpOnly) header += '; HttpOnly';
  if (options.cookieHttpsOnly) header += '; Secure';
  header += `; SameSite=${cookie.sameSite.charAt(0).toUpperCase()}${cookie.sameSite.slice(1)}`;
  return header;
}

/**
 * `request.session.cookie`: the session cookie as express-session describes
 * it, read-only. Times are in milliseconds, as there. The lifetime comes from
 * the module's `maxAge` option (with `rolling`, it slides on every request).
 */
export class SessionCookie {
  /** @internal */
  constructor(
    private readonly options: ResolvedSessionOptions,
    /** When the stored session expires (ms since the epoch); 0 for a session not stored yet. */
    private readonly expiresAt: number,
  ) {}

  /** Milliseconds until the cookie expires. */
  get maxAge(): number {
    const left = this.expiresAt === 0 ? this.originalMaxAge : this.expiresAt - Date.now();
    return Math.max(0, left);
  }

  set maxAge(_value: number) {
    throw new TypeError(messages.cookieReadOnly('maxAge'));
  }

  /** When the cookie expires. */
  get expires(): Date {
    return new Date(this.expiresAt === 0 ? Date.now() + this.originalMaxAge : this.expiresAt);
  }

  set expires(_value: Date) {
    throw new TypeError(messages.cookieReadOnly('expires'));
  }

  /** The configured lifetime (`maxAge` option), in milliseconds. */
  get originalMaxAge(): number {
    return this.options.maxAge * 1000;
  }

  get httpOnly(): boolean {
    return this.options.cookie.httpOnly;
  }

  /** The `cookieHttpsOnly` option. */
  get secure(): boolean {
    return this.options.cookieHttpsOnly;
  }

  get sameSite(): string {
    return this.options.cookie.sameSite;
  }

  get path(): string {
    return this.options.cookie.path;
  }

  get domain(): string | undefined {
    return this.options.cookie.domain;
  }

  /** The attributes, as express-session's cookie serialises them. */
  toJSON(): Record<string, unknown> {
    return {
      originalMaxAge: this.originalMaxAge,
      expires: this.expires,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
    };
  }
}
