import { Logger, Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { SessionModule, type SessionBackend } from '../src/index.js';
import { AppController } from './app.controller.js';

const logger = new Logger('Sample');

function sessionSecret(): string {
  const secret = process.env.SESSION_SECRET;
  if (secret) return secret;
  logger.warn(
    'SESSION_SECRET is not set: using a random secret, so sessions end when the app restarts',
  );
  return randomBytes(48).toString('base64url');
}

/**
 * PostgreSQL when DATABASE_URL is set, else Redis when REDIS_URL is set, else
 * memory. Each backend's entry is imported only when chosen, so the sample
 * runs without pg or ioredis installed.
 */
async function sessionBackend(): Promise<SessionBackend | undefined> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const { PostgresBackend } = await import('../src/backends/postgres.backend.js');
    logger.log(`Sessions in PostgreSQL at ${redactedUrl(databaseUrl, 'DATABASE_URL')}`);
    return new PostgresBackend({ connectionString: databaseUrl });
  }
  const url = process.env.REDIS_URL;
  if (!url) {
    logger.log(
      'Sessions in memory (set DATABASE_URL to keep them in PostgreSQL, or REDIS_URL for Redis)',
    );
    return undefined;
  }
  const { RedisBackend } = await import('../src/backends/redis.backend.js');
  logger.log(`Sessions in Redis at ${redactedUrl(url, 'REDIS_URL')}`);
  return new RedisBackend({ url });
}

/** The URL without its password, for the log. */
function redactedUrl(url: string, name: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return `(unparsable ${name})`;
  }
}

const secretKey = sessionSecret();

@Module({
  imports: [
    SessionModule.forRootAsync({
      useFactory: async () => ({ secretKey, backend: await sessionBackend() }),
    }),
  ],
  controllers: [AppController],
})
export class AppModule {}
