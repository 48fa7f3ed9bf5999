import type { INestApplication, Type } from '@nestjs/common';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import { MemoryBackend, SESSION_BACKEND } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, idOf, sessionSetCookie, storageKey } from '../support/fixtures/http.js';
import { adminClient } from '../support/redis-clients.js';
import {
  freePort,
  hasRedisServer,
  REDIS_HELP,
  startRedis,
  type RedisServer,
} from '../support/redis-server.js';

const SAMPLE_SECRET = 'sample-redis-e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

describe('the sample app picks its backend from REDIS_URL', () => {
  const savedUrl = process.env.REDIS_URL;
  // The sample prefers PostgreSQL when DATABASE_URL is set: not here.
  const savedDatabaseUrl = process.env.DATABASE_URL;
  let AppModule: Type;
  let server: RedisServer;
  let admin: Redis;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    if (!hasRedisServer()) throw new Error(REDIS_HELP);
    // A server of its own: the sample uses the default prefix, which other suites may share.
    server = await startRedis(await freePort());
    admin = adminClient(server.url);
    process.env.SESSION_SECRET = SAMPLE_SECRET;
    delete process.env.DATABASE_URL;
    ({ AppModule } = (await import('../../sample/app.module.js')) as { AppModule: Type });
  }, 30_000);

  afterEach(async () => {
    if (app) await app.get(SESSION_BACKEND).clear();
    await app?.close();
    app = undefined;
    if (savedUrl === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = savedUrl;
  });

  afterAll(async () => {
    delete process.env.SESSION_SECRET;
    if (savedDatabaseUrl !== undefined) process.env.DATABASE_URL = savedDatabaseUrl;
    admin?.disconnect();
    await server?.stop();
  }, 30_000);

  it('keeps sessions in Redis when REDIS_URL is set', async () => {
    process.env.REDIS_URL = server.url;
    app = await createApp({ imports: [AppModule] });
    expect(app.get(SESSION_BACKEND)).toBeInstanceOf(RedisBackend);

    const login = await request(app.getHttpServer()).get('/login/').expect(200);
    const key = `session:${storageKey(idOf(sessionSetCookie(login)!.value))}`;
    expect(await admin.exists(key)).toBe(1);
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', cookieFrom(login))
      .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    await request(app.getHttpServer()).get('/logout/').set('Cookie', cookieFrom(login)).expect(200);
    expect(await admin.exists(key)).toBe(0);
  });

  it('keeps sessions in memory when REDIS_URL is not set', async () => {
    delete process.env.REDIS_URL;
    app = await createApp({ imports: [AppModule] });
    expect(app.get(SESSION_BACKEND)).toBeInstanceOf(MemoryBackend);

    const login = await request(app.getHttpServer()).get('/login/').expect(200);
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', cookieFrom(login))
      .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    expect(await admin.dbsize()).toBe(0);
  });
});
