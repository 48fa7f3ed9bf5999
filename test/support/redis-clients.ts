import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_HELP } from './redis-server.js';

/** The test Redis URL, or a failure that says how to get Redis (never a skip). */
export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error(REDIS_HELP);
  return url;
}

/** A key prefix no other test file uses, so suites can share one Redis in parallel. */
export function uniquePrefix(file: string): string {
  return `test:${file}:${randomBytes(4).toString('hex')}:`;
}

/** A plain admin connection for inspecting Redis from tests. */
export function adminClient(url = redisUrl()): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
}
