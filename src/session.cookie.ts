import { SessionOptionsError } from './session.errors.js';
import { messages } from './session.messages.js';
import {
  assertBoolean,
  type ResolvedSessionOptions,
  type SessionCookieOptions,
  type SessionSameSite,
} from './session.options.js';

const SAME_SITE: readonly string[] = ['lax', 'strict', 'none'];
const PRIORITY: readonly string[] = ['low', 'medium', 'high'];
// Path and domain must not smuggle attributes into Set-Cookie.
const ATTRIBUTE_VALUE = /^[\u0021-\u003A\u003C-\u007E]+$/;

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
 * seconds; 0 clears the cookie. A cookie that is not `persistent` (a
 * browser-session cookie) has neither `Max-Age` nor `Expires`. Attribute
 * values were validated at startup.
 */
export function serializeCookie(
  options: ResolvedSessionOptions,
  value: string,
  maxAge: number,
  now = Date.now(),
  persistent = options.cookie.persistent,
): string {
  const { cookie } = options;
  let header = `${options.cookieName}=${value}`;
  if (persistent || maxAge <= 0) {
    header += `; Max-Age=${maxAge}; Expires=${new Date(
      maxAge > 0 ? now + maxAge * 1000 : 0,
    ).toUTCString()}`;
  }
  header += `; Path=${cookie.path}`;
  if (cookie.domain) header += `; Domain=${cookie.domain}`;
  if (cookie.httpOnly) header += '; HttpOnly';
  if (options.cookieHttpsOnly) header += '; Secure';
  header += `; SameSite=${capitalized(cookie.sameSite)}`;
  if (cookie.partitioned) header += '; Partitioned';
  if (cookie.priority) header += `; Priority=${capitalized(cookie.priority)}`;
  return header;
}

function capitalized(word: string): string {
  return `${word.charAt(0).toUpperCase()}${word.slice(1)}`;
}

/** @internal The `cookie` option, defaults merged and validated. */
export function resolveCookie(
  cookie: SessionCookieOptions | undefined,
  secure: boolean,
): ResolvedSessionOptions['cookie'] {
  if (cookie !== undefined && (cookie === null || typeof cookie !== 'object')) {
    throw new SessionOptionsError(messages.invalidOption('cookie', 'an object', cookie));
  }
  const path = cookie?.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/') || !ATTRIBUTE_VALUE.test(path)) {
    throw new SessionOptionsError(
      messages.invalidOption('cookie.path', 'a path starting with "/" without ";" or spaces', path),
    );
  }
  const domain = cookie?.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !ATTRIBUTE_VALUE.test(domain))) {
    throw new SessionOptionsError(
      messages.invalidOption('cookie.domain', 'a domain name without ";" or spaces', domain),
    );
  }
  const httpOnly = cookie?.httpOnly ?? true;
  assertBoolean('cookie.httpOnly', httpOnly);
  const sameSite = cookie?.sameSite ?? 'lax';
  if (typeof sameSite !== 'string' || !SAME_SITE.includes(sameSite)) {
    throw new SessionOptionsError(
      messages.invalidOption('cookie.sameSite', "'lax', 'strict' or 'none'", sameSite),
    );
  }
  if (sameSite === 'none' && !secure) {
    throw new SessionOptionsError(messages.sameSiteNoneInsecure());
  }
  const persistent = cookie?.persistent ?? true;
  assertBoolean('cookie.persistent', persistent);
  const partitioned = cookie?.partitioned ?? false;
  assertBoolean('cookie.partitioned', partitioned);
  if (partitioned && !secure) throw new SessionOptionsError(messages.partitionedInsecure());
  const priority = cookie?.priority;
  if (priority !== undefined && (typeof priority !== 'string' || !PRIORITY.includes(priority))) {
    throw new SessionOptionsError(
      messages.invalidOption('cookie.priority', "'low', 'medium' or 'high'", priority),
    );
  }
  return {
    path,
    domain,
    httpOnly,
    sameSite: sameSite as SessionSameSite,
    persistent,
    partitioned,
    priority,
  };
}

/**
 * Browsers set a `__Secure-` cookie only with `Secure`, and a `__Host-` cookie
 * only with `Secure`, `Path=/` and no `Domain`; they match the prefixes
 * regardless of case. Anything else would be silently dropped by the browser,
 * so every request would start a new session.
 */
export function assertCookiePrefix(
  cookieName: string,
  secure: boolean,
  cookie: ResolvedSessionOptions['cookie'],
): void {
  const lower = cookieName.toLowerCase();
  const host = lower.startsWith('__host-');
  if (!host && !lower.startsWith('__secure-')) return;
  const prefix = cookieName.slice(0, host ? '__Host-'.length : '__Secure-'.length);
  if (!secure) {
    throw new SessionOptionsError(messages.cookiePrefixInsecure(cookieName, prefix));
  }
  if (!host) return;
  if (cookie.path !== '/') {
    throw new SessionOptionsError(messages.hostPrefixPath(cookieName, cookie.path));
  }
  if (cookie.domain !== undefined) {
    throw new SessionOptionsError(messages.hostPrefixDomain(cookieName, cookie.domain));
  }
}
