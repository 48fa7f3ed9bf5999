import { jest } from '@jest/globals';
import { Logger, type INestApplication, type Type } from '@nestjs/common';
import pg from 'pg';
import request from 'supertest';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { SESSION_BACKEND } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, idOf, sessionSetCookie, storageKey } from '../support/fixtures/http.js';
import { adminPool, databaseUrl, uniqueSchema } from '../support/postgres.js';
import { quoted, rowsWith } from '../support/postgres-admin.js';

const SAMPLE_SECRET = 'sample-postgres-e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

describe('the sample app keeps sessions in PostgreSQL when DATABASE_URL is set', () => {
  const saved = { REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL };
  // The sample uses the default schema and table: a database of its own, so
  // that no other suite shares them.
  const database = uniqueSchema('postgres-sample');
  let admin: pg.Pool;
  let sampleUrl: string;
  let AppModule: Type;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    admin = await adminPool();
    await admin.query(`CREATE DATABASE ${quoted(database)}`);
    const url = new URL(databaseUrl());
    url.pathname = `/${database}`;
    sampleUrl = url.toString();
    process.env.SESSION_SECRET = SAMPLE_SECRET;
    ({ AppModule } = (await import('../../sample/app.module.js')) as { AppModule: Type });
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  afterAll(async () => {
    delete process.env.SESSION_SECRET;
    if (admin) await admin.query(`DROP DATABASE IF EXISTS ${quoted(database)} WITH (FORCE)`);
    await admin?.end();
  });

  it('logs in, greets, logs out with the session in a row, and says so at startup', async () => {
    process.env.DATABASE_URL = sampleUrl;
    // Also set: PostgreSQL wins over Redis.
    process.env.REDIS_URL = 'redis://127.0.0.1:1';
    const logged: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'log').mockImplementation((message: unknown) => {
      logged.push(String(message));
    });
    try {
      app = await createApp({ imports: [AppModule] });
    } finally {
      spy.mockRestore();
    }
    expect(app.get(SESSION_BACKEND)).toBeInstanceOf(PostgresBackend);
    const said = logged.find((line) => line.startsWith('Sessions in PostgreSQL at '));
    expect(said).toContain(`/${database}`);

    const server = app.getHttpServer();
    const login = await request(server).get('/login/').expect(200);
    const key = storageKey(idOf(sessionSetCookie(login)!.value));
    const db = new pg.Pool({ connectionString: sampleUrl, max: 1 });
    try {
      expect(await rowsWith(db, 'public', key)).toHaveLength(1);
      await request(server)
        .get('/profile/')
        .set('Cookie', cookieFrom(login))
        .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
      await request(server)
        .get('/logout/')
        .set('Cookie', cookieFrom(login))
        .expect(200, { message: 'Logged out successfully.' });
      expect(await rowsWith(db, 'public', key)).toEqual([]);
    } finally {
      await db.end();
    }
  });
});
