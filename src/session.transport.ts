import { readCookie } from './session.cookie.js';
import { SessionOptionsError } from './session.errors.js';
import type { SessionRequest } from './session.http.js';
import { messages } from './session.messages.js';
import { COOKIE_NAME, type ResolvedSessionOptions } from './session.options.js';

const TRANSPORTS: readonly string[] = ['cookie', 'header'];
/** Headers that already mean something to browsers, proxies or this module. */
/**
 * Headers `headerName` may not be: they already mean something to browsers,
 * proxies or the HTTP connection (hop-by-hop headers among them), or a
 * browser's fetch cannot send them.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'cookie',
  'set-cookie',
  'host',
  'authorization',
  'location',
  'origin',
  'referer',
  'cache-control',
  'pragma',
  'expires',
  'vary',
  'date',
  'forwarded',
  // Hop-by-hop (RFC 9110 7.6.1, and their historic companions).
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
/** Whole families: `content-*` (the body), CORS, and the browser's forbidden `proxy-*` and `sec-*`. */
const RESERVED_PREFIXES: readonly string[] = ['content-', 'access-control-', 'proxy-', 'sec-'];
const DEFAULT_HEADER_NAME = 'x-session-token';
/** A signed value is far shorter; longer headers are treated as carrying no session. */
const MAX_TOKEN_LENGTH = 256;
/** Node joins repeated custom headers with ", ": a value with a comma or a space was sent more than once. */
const MULTIPLE_VALUES = /[\s,]/;

/** @internal The `transport` option, validated. */
export function resolveTransport(value: unknown): ResolvedSessionOptions['transport'] {
  const list: unknown[] = value === undefined ? ['cookie'] : Array.isArray(value) ? value : [value];
  const valid =
    list.length > 0 &&
    new Set(list).size === list.length &&
    list.every((item) => typeof item === 'string' && TRANSPORTS.includes(item));
  if (!valid) {
    throw new SessionOptionsError(
      messages.invalidOption('transport', "'cookie', 'header' or ['cookie', 'header']", value),
    );
  }
  return { cookie: list.includes('cookie'), header: list.includes('header') };
}

/** @internal The `headerName` option, validated, in lower case. */
export function resolveHeaderName(value: unknown, header: boolean): string {
  if (value === undefined) return DEFAULT_HEADER_NAME;
  if (typeof value !== 'string' || !COOKIE_NAME.test(value)) {
    throw new SessionOptionsError(
      messages.invalidOption(
        'headerName',
        "a header name made of letters, digits and !#$%&'*+-.^_`|~",
        value,
      ),
    );
  }
  const name = value.toLowerCase();
  if (RESERVED_HEADERS.has(name) || RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
    throw new SessionOptionsError(messages.headerNameReserved(value));
  }
  if (!header) throw new SessionOptionsError(messages.headerNameWithoutHeader());
  return name;
}

/**
 * @internal The signed session value a request carries, by the transports in
 * use, or undefined: none, an empty one, one sent more than once, or a cookie
 * and a header that disagree (which did the client mean?).
 */
export function readToken(
  request: SessionRequest,
  options: ResolvedSessionOptions,
): string | undefined {
  const { transport } = options;
  const cookie = transport.cookie
    ? readCookie(request.headers?.cookie, options.cookieName)
    : undefined;
  if (!transport.header) return cookie;
  const header = request.headers?.[options.headerName];
  if (header === undefined || header === '') return cookie;
  if (
    typeof header !== 'string' ||
    header.length > MAX_TOKEN_LENGTH ||
    MULTIPLE_VALUES.test(header.trim()) ||
    (cookie !== undefined && cookie !== header.trim())
  ) {
    return undefined;
  }
  return header.trim();
}

/**
 * @internal True when the response carries the session in the header: always
 * with the header transport alone; with both, when the request sent the
 * header (even empty, which is how a client asks for its first token).
 */
export function answersInHeader(request: SessionRequest, options: ResolvedSessionOptions): boolean {
  const { transport } = options;
  if (!transport.header) return false;
  return !transport.cookie || request.headers?.[options.headerName] !== undefined;
}
