/**
 * Every message the library shows a user, in one place. Messages say what went
 * wrong and what to do about it.
 */
export const messages = {
  secretMissing: () =>
    'secretKey is missing: pass SessionModule.forRoot({ secretKey: process.env.SESSION_SECRET })',
  secretNotString: (index: number) =>
    `secretKey[${index}] must be a non-empty string: every key in the rotation list signs or verifies cookies`,
  secretTooShort: (length: number) =>
    `secretKey is ${length} characters long: use at least 32 random characters (for example \`openssl rand -base64 48\`)`,
  invalidOption: (name: string, expected: string, got: unknown) =>
    `Invalid session option \`${name}\`: expected ${expected}, got ${describe(got)}`,
  invalidBackend: (got: unknown) =>
    `Invalid session option \`backend\`: expected an instance of a SessionBackend subclass (such as new MemoryBackend() or new RedisBackend()), got ${describe(got)}`,
  noUserIndex: (backend: unknown) =>
    `Session option \`userKey\` needs a backend that can index sessions by user (indexAdd, indexRemove, indexList): ${
      (backend as object)?.constructor?.name ?? 'this backend'
    } cannot. Use MemoryBackend, RedisBackend or PostgresBackend, or add those methods to your backend`,
  invalidUser: (userKey: string, got: unknown) =>
    `Expected a user id for \`userKey\` "${userKey}" (a string or a finite number, the value sessions hold under "${userKey}"), got ${describe(got)}`,
  userKeyValueNotIndexed: (userKey: string, got: unknown) =>
    `Session key "${userKey}" (the \`userKey\` option) holds ${describe(got)}: only a string or a finite number is indexed, so such sessions are not listed nor ended by destroyAllSessions`,
  needsUserKey: (option: string) =>
    `Session option \`${option}\` needs \`userKey\` (the session key naming the user): SessionModule.forRoot({ secretKey, userKey: 'userId', ${option}: ... })`,
  noSessionLimit: (backend: unknown) =>
    `Session option \`maxSessionsPerUser\` needs a backend that can apply it atomically (indexAddLimited, as MemoryBackend, RedisBackend and PostgresBackend have): ${
      (backend as object)?.constructor?.name ?? 'this backend'
    } has none`,
  sessionLimit: (max: number) =>
    `This user already has ${max} session${max === 1 ? '' : 's'} (the most \`maxSessionsPerUser\` allows): log out elsewhere first`,
  describeFailed: (reason: string) =>
    `Session option \`describe\` ${reason}: the session is saved without a description`,
  userKeyNotSet: () =>
    "Listing or ending a user's sessions needs the `userKey` option: SessionModule.forRoot({ secretKey, userKey: 'userId' })",
  ioredisMissing: () =>
    'RedisBackend needs the ioredis package, which is not installed: run `npm i ioredis` (version 5 or 6)',
  redisOption: (name: string, expected: string, got: unknown) =>
    `Invalid RedisBackend option \`${name}\`: expected ${expected}, got ${describe(got)}`,
  redisNotReady: (status: string, waitedMs: number) =>
    `Redis is not reachable (connection ${status} after waiting ${waitedMs} ms): the session store is unavailable until it reconnects`,
  redisClosed: () => 'RedisBackend was closed: create a new one to use Redis again',
  redisError: (detail: string) =>
    `Redis connection error: ${detail} (commands fail until the connection is back; reconnecting)`,
  redisRestored: () => 'Redis connection restored',
  reservedKey: (key: string) =>
    `Session key "${key}" is reserved for the session's own bookkeeping: choose another key`,
  reservedProperty: (key: string) =>
    key === '__proto__'
      ? messages.prototypeKey(key)
      : `Session key "${key}" is a name of the session's own API (a method, an accessor, or "then"): property access cannot store it. Use session.set('${key}', value) and session.get('${key}'), or choose another key`,
  accessorProperty: (key: string) =>
    `Session key "${key}" cannot be a getter or setter: sessions hold plain JSON values. Assign the value itself`,
  sessionNotBound: () =>
    'This session belongs to no request (made outside SessionService, or replaced by regenerate()): use request.session',
  cookieReadOnly: (name: string) =>
    `request.session.cookie.${name} is read-only: set request.session.cookie.maxAge (milliseconds, or null for a browser-session cookie) or call session.setMaxAge(seconds)`,
  cookieMaxAge: (got: unknown) =>
    `request.session.cookie.maxAge takes a positive number of milliseconds, at most 400 days (34560000000), or null for a browser-session cookie; got ${describe(got)}`,
  foreignSession: (what: string) =>
    `request.session was already set by another session middleware (${what}, such as express-session, cookie-session or @fastify/session): remove it (for express-session, the app.use(session({...})) line) — SessionModule provides request.session itself; where middleware needs it, use app.use(sessionMiddleware(app)) instead`,
  middlewareWithoutModule: () =>
    'sessionMiddleware(app) found no SessionService: import SessionModule.forRoot({ secretKey }) in the application module first',
  reloadGone: () =>
    'Session reload failed: the session is no longer stored (it expired or was destroyed); request.session is now a new, empty session',
  notJson: (key: string, path: string, what: string) =>
    `Session value for key "${key}" cannot be stored as JSON: ${what} at ${path}`,
  loadFailed: () => 'Session store unavailable: could not load the session',
  saveFailed: () => 'Session store unavailable: could not save the session',
  corruptRecord: (storageKey: string) =>
    `Ignoring an unreadable session record (storage key ${storageKey.slice(0, 8)}…): treating it as missing`,
  invalidKey: (key: string) =>
    `Session key ${key} is not a string: session keys are strings (numbers are taken as their string)`,
  prototypeKey: (key: string) =>
    `Session key "${key}" is reserved: JavaScript objects treat it as their prototype, so it cannot hold a value. Choose another key`,
  maxAgeTooLong: (maxAge: number, limit: number) =>
    `Invalid session option \`maxAge\`: ${maxAge} seconds is more than 400 days (${limit}), the longest cookie lifetime browsers keep: use at most ${limit} (with rolling: true, sessions in use are extended anyway)`,
  sameSiteNoneInsecure: () =>
    "Invalid session option `cookie.sameSite`: 'none' needs cookieHttpsOnly: true, because browsers reject SameSite=None cookies without the Secure attribute: set cookieHttpsOnly: true (and serve over HTTPS), or use sameSite 'lax'",
  cookiePrefixInsecure: (cookieName: string, prefix: string) =>
    `Invalid session option \`cookieName\`: browsers keep a cookie named "${cookieName}" (prefix ${prefix}) only with the Secure attribute: set cookieHttpsOnly: true (and serve over HTTPS), or choose a name without the prefix`,
  hostPrefixPath: (cookieName: string, path: string) =>
    `Invalid session option \`cookie.path\`: browsers keep a cookie named "${cookieName}" (prefix __Host-) only with Path=/, not ${JSON.stringify(path)}: remove cookie.path, or use the __Secure- prefix`,
  hostPrefixDomain: (cookieName: string, domain: string) =>
    `Invalid session option \`cookie.domain\`: browsers keep a cookie named "${cookieName}" (prefix __Host-) only without a Domain attribute, not ${JSON.stringify(domain)}: remove cookie.domain, or use the __Secure- prefix`,
  touchAfterTooLong: (touchAfter: number, maxAge: number) =>
    `Invalid session option \`touchAfter\`: ${touchAfter} seconds is not below maxAge (${maxAge}): a session would expire before its touch is due. Use a fraction of maxAge (for example a tenth)`,
  touchAfterNotRolling: () =>
    'Invalid session option `touchAfter`: it spaces out the extensions of `rolling: true`, which is off: set rolling: true, or remove touchAfter',
  partitionedInsecure: () =>
    'Invalid session option `cookie.partitioned`: browsers keep a Partitioned cookie only with the Secure attribute: set cookieHttpsOnly: true (and serve over HTTPS), or remove cookie.partitioned',
  headerNameReserved: (name: string) =>
    `Invalid session option \`headerName\`: ${JSON.stringify(name)} already means something to browsers or proxies: choose a header of your own, such as 'x-session-token'`,
  headerNameWithoutHeader: () =>
    "Invalid session option `headerName`: it names the header of transport 'header', which is not in use: set transport: 'header' (or ['cookie', 'header']), or remove headerName",
  invalidMaxAge: (got: unknown, limit: number) =>
    `session.setMaxAge(): expected a positive number of seconds, at most ${limit} (400 days, the longest cookie lifetime browsers keep), got ${describe(got)}`,
  invalidPersistent: (got: unknown) =>
    `session.setMaxAge(): expected \`persistent\` to be true or false, got ${describe(got)}`,
  redisTransactionAborted: () =>
    'Redis aborted a MULTI/EXEC transaction of the session store: retry the request',
  cookieTooLate: () =>
    'A new session was changed after the response headers were sent: its cookie cannot be set any more, so it was not saved. Change the session before the response starts (before streaming or hijacking)',
  graphqlNoRequest: () =>
    'The GraphQL context has no `req`, so the session cookie cannot be read: keep the HTTP request in the context, e.g. GraphQLModule.forRoot({ driver: ApolloDriver, context: ({ req, res }) => ({ req, res }) })',
  socketNotBound: () =>
    "This WebSocket client's handshake request is unknown, so its session cookie cannot be read: with the ws adapter (@nestjs/platform-ws), call sessionService.bindSocket(client, request) first thing in the gateway's handleConnection(client, request)",
  socketNewSession: () =>
    'This socket has no session to write to (its handshake carried no valid session cookie, or the session has ended): a WebSocket cannot set a cookie, so create the session over HTTP (log in) and reconnect',
  notSocketSession: () =>
    'saveForSocket() saves a session from loadForSocket(): sessions of HTTP requests are saved with their response',
  socketSessionEnded: () =>
    'This session ended (logged out or expired) while the message was handled, so its changes were not saved: log in over HTTP and reconnect',
  sessionModuleMissing: () =>
    '@Session() found no session service for this request: import SessionModule.forRoot({ secretKey, ... }) (or forRootAsync) in the application module',
  socketSessionMissing: () =>
    '@Session() in a WebSocket handler found no session: SessionInterceptor did not run for this handler. Import SessionModule in the application (it registers the interceptor), or bind it with @UseInterceptors(SessionInterceptor)',
  pgMissing: () =>
    'PostgresBackend needs the pg package (node-postgres), which is not installed: run `npm i pg` (version 8)',
  postgresOption: (name: string, expected: string, got: unknown) =>
    `Invalid PostgresBackend option \`${name}\`: expected ${expected}, got ${describe(got)}`,
  postgresClosed: () => 'PostgresBackend was closed: create a new one to use PostgreSQL again',
  postgresError: (detail: string) =>
    `PostgreSQL connection error: ${detail} (queries fail until the database answers again; the pool reconnects by itself)`,
  postgresNoTable: (table: string) =>
    `The session table ${table} does not exist: create it with the SQL of PostgresBackend.schemaSql(options) (in a migration), or leave the option \`createTable\` on`,
  postgresForeignTable: (table: string) =>
    `The table ${table} exists but is not a PostgresBackend session table (connect-pg-simple, for one, uses the same default name "session"): pass PostgresBackend another \`table\` or \`schema\``,
  postgresPruneFailed: (detail: string) =>
    `Pruning expired sessions failed: ${detail} (retried at the next interval)`,
  postgresRestored: () => 'PostgreSQL connection restored',
} as const;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
