/** Injection token of the configured {@link SessionBackend} instance. */
export const SESSION_BACKEND = Symbol('SESSION_BACKEND');

/** Injection token of the resolved (defaults merged, validated) session options. */
export const SESSION_OPTIONS = Symbol('SESSION_OPTIONS');

/** @internal Key under which the module keeps its own bookkeeping in a stored record. */
export const META_KEY = '__session';

/** @internal Bytes of entropy in a session id (256 bits). */
export const ID_BYTES = 32;

/** @internal A cookie value is `<43 base64url chars>.<43 base64url chars>`. */
export const COOKIE_VALUE_PATTERN = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;

/** @internal Default option values, merged once in `resolveSessionOptions`. */
export const DEFAULT_MAX_AGE = 1_209_600;
export const DEFAULT_COOKIE_NAME = 'session';

/** @internal Browsers cap a cookie's lifetime at 400 days (RFC 6265bis; Chrome since version 104). */
export const MAX_COOKIE_MAX_AGE = 400 * 24 * 60 * 60;
