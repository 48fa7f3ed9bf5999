import { Logger } from '@nestjs/common';
import { MemoryBackend } from './backends/memory.backend.js';
import { hasUserIndex } from './backends/backend-capabilities.js';
import { isSessionBackend, type SessionBackend } from './backends/session-backend.js';
import {
  DEFAULT_COOKIE_NAME,
  DEFAULT_MAX_AGE,
  MAX_COOKIE_MAX_AGE,
  META_KEY,
} from './session.constants.js';
import { SessionOptionsError } from './session.errors.js';
import { assertCookiePrefix, resolveCookie } from './session.cookie.js';
import { resolveTouchAfter } from './session.lifetime.js';
import { messages } from './session.messages.js';
import { resolveUserOptions } from './session.user-options.js';
import { resolveHeaderName, resolveTransport } from './session.transport.js';

/** `SameSite` cookie attribute values accepted by `cookie.sameSite`. */
export type SessionSameSite = 'lax' | 'strict' | 'none';

/** `Priority` cookie attribute values accepted by `cookie.priority` (Chromium's cookie eviction order). */
export type SessionCookiePriority = 'low' | 'medium' | 'high';

/** Where the signed session id travels: a cookie, a request/response header, or either. */
export type SessionTransport = 'cookie' | 'header';

/** Cookie attributes other than `Secure` (see `cookieHttpsOnly`) and `Max-Age`. */
export interface SessionCookieOptions {
  /** Default `'/'`. */
  path?: string;
  /** Default: none (host-only cookie). */
  domain?: string;
  /** Default `true`: scripts in the page cannot read the cookie. */
  httpOnly?: boolean;
  /** Default `'lax'`. `'none'` needs `cookieHttpsOnly: true`. */
  sameSite?: SessionSameSite;
  /**
   * Default `true`: the cookie carries `Max-Age` and `Expires`. `false`: a
   * browser-session cookie (neither attribute; the browser drops it when it
   * closes), while the server still ends the session after its lifetime.
   * One session can choose otherwise with `session.setMaxAge(seconds, { persistent })`.
   */
  persistent?: boolean;
  /**
   * Default `false`. `true` adds `Partitioned` (CHIPS: a third-party cookie
   * kept per top-level site). Needs `cookieHttpsOnly: true`.
   */
  partitioned?: boolean;
  /** `Priority` attribute (`'low'`, `'medium'` or `'high'`). Default: none (browsers use medium). */
  priority?: SessionCookiePriority;
}

/**
 * Options of `SessionModule.forRoot()`, and what a `forRootAsync()` factory
 * returns. Only `secretKey` is required.
 *
 * @example
 * SessionModule.forRoot({ secretKey: process.env.SESSION_SECRET!, maxAge: 3600, rolling: true })
 */
export interface SessionModuleOptions {
  /** Signs the session-id cookie. An array rotates keys: the first signs, every one verifies. */
  secretKey: string | string[];
  /** Where sessions live. Default: a new `MemoryBackend`. */
  backend?: SessionBackend;
  /**
   * Session lifetime in seconds: store TTL and cookie `Max-Age`. Default
   * 1 209 600 (14 days); at most 34 560 000 (400 days, where browsers cap
   * cookie lifetimes).
   */
  maxAge?: number;
  /** Sliding expiration: every request that loads a session extends it by `maxAge`. Default `false`. */
  rolling?: boolean;
  /** Hard limit in seconds from creation, even while rolling. Default: none. */
  absoluteTimeout?: number;
  /**
   * Cookie name. Default `'session'`. A `__Secure-` name needs
   * `cookieHttpsOnly`; a `__Host-` name also needs `cookie.path` `'/'` and no
   * `cookie.domain` (browsers drop such cookies otherwise, whatever the case
   * of the prefix).
   */
  cookieName?: string;
  /** Sets the cookie's `Secure` attribute. Default `false`; turn it on in production. */
  cookieHttpsOnly?: boolean;
  /** Other cookie attributes. Default `{ path: '/', httpOnly: true, sameSite: 'lax' }`. */
  cookie?: SessionCookieOptions;
  /**
   * The session key that identifies the user (for example `'userId'`). When
   * set, sessions holding that key are indexed by its value, so that
   * `SessionService` can list a user's sessions and end them all ("log out
   * everywhere"). Needs a backend with the user-index capability. Default: none.
   */
  userKey?: string;
  /**
   * Load the session before every route's handler, not only those that take
   * `@Session()`. Default `false`: `@Session()` binds `SessionInterceptor` to
   * its own handler, so routes that don't use the session pay nothing. Set it
   * to `true` when handlers read `request.session` through `@Req()` without
   * `@Session()` (each route then pays for Nest's interceptor and the load).
   * Guards and middleware load it themselves either way
   * (`SessionService.load`).
   */
  loadOnEveryRoute?: boolean;
  /**
   * What `listSessions` reports about each session besides its times: called
   * with the request when a session is created or regenerated for a user
   * (with `userKey`), it returns a plain object of JSON values, such as the
   * user agent and `request.ip`. Kept with the user-index entry, never with
   * the session id; at most 1 KiB of JSON (a larger description, one that
   * throws, or one that is not a plain JSON object is left out with a logged
   * warning: the session is saved all the same). Default: none.
   *
   * @example
   * describe: (req: Request) => ({ userAgent: req.headers['user-agent'] ?? '', ip: req.ip })
   */
  describe?(request: object): Record<string, unknown>;
  /**
   * At most this many live sessions per user (a positive integer; needs
   * `userKey`). A save that would give a user one more (a login) applies
   * `onLimit`, atomically with indexing the session. Default: no limit.
   */
  maxSessionsPerUser?: number;
  /**
   * With `maxSessionsPerUser`: `'evict-oldest'` (default) ends the user's
   * least recently seen sessions to make room; `'reject'` fails the login's
   * save with a `SessionLimitError` (an HTTP 409 unless caught).
   */
  onLimit?: SessionLimitPolicy;
  /**
   * With `rolling`, a request that changes nothing extends its session (store
   * and cookie) only when at least this many seconds passed since the last
   * extension, so a busy user costs one touch per `touchAfter` rather than one
   * per request. Default 0 (every request). Must be below `maxAge`; a session
   * with a shorter lifetime of its own uses the same fraction of it.
   */
  touchAfter?: number;
  /**
   * Where the signed session id travels: `'cookie'` (default), `'header'` (the
   * `headerName` request header, sent back in the same response header when
   * the session is created, regenerated or re-signed; empty when destroyed),
   * or `['cookie', 'header']` (a request that carries the header, even empty,
   * is answered in the header; others with the cookie).
   */
  transport?: SessionTransport | readonly SessionTransport[];
  /** The header of the `'header'` transport. Default `'x-session-token'`. */
  headerName?: string;
}

/** What a login past `maxSessionsPerUser` does: see `onLimit`. */
export type SessionLimitPolicy = 'evict-oldest' | 'reject';

/** The options after defaults are merged and validated: what `SESSION_OPTIONS` injects. */
export interface ResolvedSessionOptions {
  readonly secretKeys: readonly string[];
  readonly backend: SessionBackend;
  readonly maxAge: number;
  readonly rolling: boolean;
  readonly absoluteTimeout: number | undefined;
  readonly cookieName: string;
  readonly cookieHttpsOnly: boolean;
  readonly cookie: Required<Omit<SessionCookieOptions, 'domain' | 'priority'>> & {
    domain?: string;
    priority?: SessionCookiePriority;
  };
  readonly userKey: string | undefined;
  readonly loadOnEveryRoute: boolean;
  readonly describe: ((request: object) => Record<string, unknown>) | undefined;
  readonly maxSessionsPerUser: number | undefined;
  readonly onLimit: SessionLimitPolicy;
  readonly touchAfter: number;
  /** The transports in use: the cookie, the header, or both. */
  readonly transport: { readonly cookie: boolean; readonly header: boolean };
  /** Lower-case, as Node's request headers have it. */
  readonly headerName: string;
}

// RFC 6265 token: no separators, controls or spaces.
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MIN_SECRET_LENGTH = 32;

const logger = new Logger('SessionModule');

/**
 * Merges the defaults into user options and validates them, once, for both
 * `forRoot` and `forRootAsync`. Every error names the option at fault.
 */
export function resolveSessionOptions(options: SessionModuleOptions): ResolvedSessionOptions {
  if (options === null || typeof options !== 'object') {
    throw new SessionOptionsError(messages.secretMissing());
  }
  const secretKeys = resolveSecretKeys(options.secretKey);
  const maxAge = options.maxAge ?? DEFAULT_MAX_AGE;
  if (!isPositiveSeconds(maxAge)) {
    throw new SessionOptionsError(
      messages.invalidOption('maxAge', 'a positive number of seconds', maxAge),
    );
  }
  if (maxAge > MAX_COOKIE_MAX_AGE) {
    throw new SessionOptionsError(messages.maxAgeTooLong(maxAge, MAX_COOKIE_MAX_AGE));
  }
  const absoluteTimeout = options.absoluteTimeout;
  if (absoluteTimeout !== undefined && !isPositiveSeconds(absoluteTimeout)) {
    throw new SessionOptionsError(
      messages.invalidOption('absoluteTimeout', 'a positive number of seconds', absoluteTimeout),
    );
  }
  const rolling = options.rolling ?? false;
  assertBoolean('rolling', rolling);
  const loadOnEveryRoute = options.loadOnEveryRoute ?? false;
  assertBoolean('loadOnEveryRoute', loadOnEveryRoute);
  const cookieHttpsOnly = options.cookieHttpsOnly ?? false;
  assertBoolean('cookieHttpsOnly', cookieHttpsOnly);
  const cookieName = options.cookieName ?? DEFAULT_COOKIE_NAME;
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) {
    throw new SessionOptionsError(
      messages.invalidOption(
        'cookieName',
        "a cookie name made of letters, digits and !#$%&'*+-.^_`|~",
        cookieName,
      ),
    );
  }
  const backend = options.backend ?? new MemoryBackend();
  if (!isSessionBackend(backend)) {
    throw new SessionOptionsError(messages.invalidBackend(backend));
  }
  const userKey = options.userKey;
  if (userKey !== undefined) {
    if (typeof userKey !== 'string' || userKey.length === 0 || userKey === META_KEY) {
      throw new SessionOptionsError(
        messages.invalidOption('userKey', 'the name of a session key, such as "userId"', userKey),
      );
    }
    if (!hasUserIndex(backend)) throw new SessionOptionsError(messages.noUserIndex(backend));
  }
  const cookie = resolveCookie(options.cookie, cookieHttpsOnly);
  assertCookiePrefix(cookieName, cookieHttpsOnly, cookie);
  const { describe, maxSessionsPerUser, onLimit } = resolveUserOptions(options, backend);
  const touchAfter = resolveTouchAfter(options.touchAfter, maxAge, rolling);
  const transport = resolveTransport(options.transport);
  const headerName = resolveHeaderName(options.headerName, transport.header);
  return {
    secretKeys,
    backend,
    maxAge,
    rolling,
    absoluteTimeout,
    cookieName,
    cookieHttpsOnly,
    cookie,
    userKey,
    loadOnEveryRoute,
    describe,
    maxSessionsPerUser,
    onLimit,
    touchAfter,
    transport,
    headerName,
  };
}

function resolveSecretKeys(secretKey: unknown): string[] {
  if (secretKey === undefined || secretKey === null || secretKey === '') {
    throw new SessionOptionsError(messages.secretMissing());
  }
  const keys = Array.isArray(secretKey) ? secretKey : [secretKey];
  if (keys.length === 0) throw new SessionOptionsError(messages.secretMissing());
  keys.forEach((key, index) => {
    if (typeof key !== 'string' || key.length === 0) {
      throw new SessionOptionsError(
        Array.isArray(secretKey)
          ? messages.secretNotString(index)
          : messages.invalidOption('secretKey', 'a non-empty string or an array of them', key),
      );
    }
  });
  const shortest = Math.min(...keys.map((key: string) => key.length));
  if (shortest < MIN_SECRET_LENGTH) {
    if (process.env.NODE_ENV === 'production') {
      throw new SessionOptionsError(messages.secretTooShort(shortest));
    }
    logger.warn(`${messages.secretTooShort(shortest)}; this is an error when NODE_ENV=production`);
  }
  return [...keys];
}

function isPositiveSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/** @internal */
export function assertBoolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') {
    throw new SessionOptionsError(messages.invalidOption(name, 'true or false', value));
  }
}
