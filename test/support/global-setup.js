// Makes sure the Redis tests have a server: REDIS_URL when set, else
// 127.0.0.1:6379 when it answers, else a throwaway redis-server on a spare
// port (stopped in global-teardown). With none of these, REDIS_URL is left
// unset and the Redis suites fail with a message saying how to get Redis.
import { freePort, hasRedisServer, redisAnswers, startRedis } from './redis-server.js';

export default async function globalSetup() {
  if (process.env.REDIS_URL) return;
  if (await redisAnswers('127.0.0.1', 6379)) {
    process.env.REDIS_URL = 'redis://127.0.0.1:6379';
    return;
  }
  if (!hasRedisServer()) return;
  const server = await startRedis(await freePort());
  process.env.REDIS_URL = server.url;
  globalThis.__THROWAWAY_REDIS__ = server;
}
