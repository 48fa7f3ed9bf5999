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
    } cannot. Use MemoryBackend or RedisBackend, or add those methods to your backend`,
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
  notJson: (key: string, path: string, what: string) =>
    `Session value for key "${key}" cannot be stored as JSON: ${what} at ${path}`,
  loadFailed: () => 'Session store unavailable: could not load the session',
  saveFailed: () => 'Session store unavailable: could not save the session',
  corruptRecord: (storageKey: string) =>
    `Ignoring an unreadable session record (storage key ${storageKey.slice(0, 8)}…): treating it as missing`,
  redisTransactionAborted: () =>
    'Redis aborted a MULTI/EXEC transaction of the session store: retry the request',
} as const;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
