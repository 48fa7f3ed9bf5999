import { Controller, Get, Query, type INestApplication } from '@nestjs/common';
import type pg from 'pg';
import request from 'supertest';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { Session, SessionModule } from '../../src/index.js';
import { AppController } from '../../sample/app.controller.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  storageKey,
} from '../support/fixtures/http.js';
import { adminPool, databaseUrl, dropSchema, uniqueSchema } from '../support/postgres.js';
import { countingPool, rowsOf, rowsWith, type CountingPool } from '../support/postgres-admin.js';

const MAX_AGE = 3600;
const WELCOME = { message: 'Welcome back, Alice! Your ID is 123.' };
const LOG_IN_FIRST = { message: 'Please log in first.' };

/** Beside the sample's routes: a request that changes a session it loaded. */
@Controller()
class NoteController {
  @Get('note')
  note(@Session() session: Session, @Query('text') text: string): { ok: true } {
    session.set('note', text);
    return { ok: true };
  }
}

describe('the sample flow on PostgresBackend', () => {
  const schema = uniqueSchema('postgres-flow');
  let admin: pg.Pool;
  let backend: PostgresBackend;
  let app: INestApplication;

  beforeAll(async () => {
    admin = await adminPool();
    backend = new PostgresBackend({ connectionString: databaseUrl(), schema });
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: MAX_AGE })],
      controllers: [AppController],
    });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
    if (admin) await dropSchema(admin, schema);
    await admin?.end();
  });

  it('stores the login in one row under sha256(id) expiring after maxAge, and never the raw id', async () => {
    const server = app.getHttpServer();
    const login = await request(server).get('/login/').expect(200);
    const id = idOf(sessionSetCookie(login)!.value);

    const rows = await rowsOf(admin, schema);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(storageKey(id));
    expect(rows[0]).toContain('Alice');
    expect(rows[0]).not.toContain(id);
    const { rows: left } = await admin.query<{ seconds: number }>(
      `SELECT extract(epoch FROM expires_at - now())::float AS seconds FROM "${schema}".session`,
    );
    expect(left[0].seconds).toBeGreaterThan(MAX_AGE - 5);
    expect(left[0].seconds).toBeLessThanOrEqual(MAX_AGE + 1);

    await request(server).get('/profile/').set('Cookie', cookieFrom(login)).expect(200, WELCOME);
    await request(server).get('/logout/').set('Cookie', cookieFrom(login)).expect(200);
  });

  it('removes the old row when a second login regenerates the id', async () => {
    const server = app.getHttpServer();
    const first = await request(server).get('/login/').expect(200);
    const firstKey = storageKey(idOf(sessionSetCookie(first)!.value));
    expect(await rowsWith(admin, schema, firstKey)).toHaveLength(1);

    const second = await request(server)
      .get('/login/')
      .set('Cookie', cookieFrom(first))
      .expect(200);
    const secondKey = storageKey(idOf(sessionSetCookie(second)!.value));
    expect(secondKey).not.toBe(firstKey);
    expect(await rowsWith(admin, schema, firstKey)).toEqual([]);
    const rows = await rowsOf(admin, schema);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(secondKey);

    await request(server)
      .get('/profile/')
      .set('Cookie', cookieFrom(first))
      .expect(200, LOG_IN_FIRST);
    await request(server).get('/logout/').set('Cookie', cookieFrom(second)).expect(200);
  });

  it('deletes the row on logout, after which the cookie asks to log in again', async () => {
    const server = app.getHttpServer();
    const login = await request(server).get('/login/').expect(200);
    const cookie = cookieFrom(login);
    expect(await rowsOf(admin, schema)).toHaveLength(1);

    const logout = await request(server)
      .get('/logout/')
      .set('Cookie', cookie)
      .expect(200, { message: 'Logged out successfully.' });
    expect(sessionSetCookie(logout)?.attributes['max-age']).toBe('0');
    expect(await rowsOf(admin, schema)).toEqual([]);

    await request(server).get('/profile/').set('Cookie', cookie).expect(200, LOG_IN_FIRST);
    expect(await rowsOf(admin, schema)).toEqual([]);
  });
});

describe('PostgreSQL round trips per request (statements counted on the pool)', () => {
  const schema = uniqueSchema('postgres-flow-count');
  let admin: pg.Pool;
  let pool: CountingPool;
  const apps: INestApplication[] = [];
  const backends: PostgresBackend[] = [];

  async function boot(rolling: boolean): Promise<INestApplication> {
    // No background pruning: only the requests' statements are counted.
    const backend = new PostgresBackend({ pool, schema, pruneIntervalSeconds: 0 });
    backends.push(backend);
    const app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: MAX_AGE, rolling })],
      controllers: [AppController, NoteController],
    });
    apps.push(app);
    // The first use creates the tables; count what comes after.
    await request(app.getHttpServer()).get('/login/').expect(200);
    return app;
  }

  async function login(app: INestApplication): Promise<{ cookie: string; key: string }> {
    const response = await request(app.getHttpServer()).get('/login/').expect(200);
    return {
      cookie: cookieFrom(response),
      key: storageKey(idOf(sessionSetCookie(response)!.value)),
    };
  }

  async function secondsLeft(key: string): Promise<number> {
    const row = (await rowsWith(admin, schema, key))[0];
    return (Date.parse(JSON.parse(row).expires_at as string) - Date.now()) / 1000;
  }

  beforeAll(async () => {
    admin = await adminPool();
    pool = countingPool({ connectionString: databaseUrl(), max: 4 });
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const backend of backends) await backend.close();
    await pool?.end();
    if (admin) await dropSchema(admin, schema);
    await admin?.end();
  });

  it('sends nothing to PostgreSQL for a request without a cookie', async () => {
    const app = await boot(false);
    const sent = await pool.during(() =>
      request(app.getHttpServer()).get('/profile/').expect(200, LOG_IN_FIRST),
    );
    expect(sent).toEqual([]);
  });

  it('reads a session with one statement and writes nothing when the request changes nothing', async () => {
    const app = await boot(false);
    const { cookie, key } = await login(app);
    await admin.query(`UPDATE "${schema}".session SET expires_at = now() + interval '100 seconds'`);
    const sent = await pool.during(() =>
      request(app.getHttpServer()).get('/profile/').set('Cookie', cookie).expect(200, WELCOME),
    );
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^\s*(SELECT|WITH)/i);
    // Without rolling, reading does not extend the session.
    expect(await secondsLeft(key)).toBeLessThanOrEqual(100);
  });

  it('with rolling, reads and extends a session with one statement', async () => {
    const app = await boot(true);
    const { cookie, key } = await login(app);
    await admin.query(`UPDATE "${schema}".session SET expires_at = now() + interval '100 seconds'`);
    let response: request.Response | undefined;
    const sent = await pool.during(async () => {
      response = await request(app.getHttpServer())
        .get('/profile/')
        .set('Cookie', cookie)
        .expect(200, WELCOME);
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/UPDATE/i);
    expect(await secondsLeft(key)).toBeGreaterThan(MAX_AGE - 5);
    expect(sessionSetCookie(response!)?.attributes['max-age']).toBe(String(MAX_AGE));
  });

  it('saves a change with the read and one more statement', async () => {
    const app = await boot(false);
    const { cookie, key } = await login(app);
    const sent = await pool.during(() =>
      request(app.getHttpServer()).get('/note?text=hello').set('Cookie', cookie).expect(200),
    );
    expect(sent).toHaveLength(2);
    expect((await rowsWith(admin, schema, key))[0]).toContain('hello');
  });

  it('creates a session at login with one statement per change, and none to read', async () => {
    const app = await boot(false);
    const sent = await pool.during(() => request(app.getHttpServer()).get('/login/').expect(200));
    // No cookie: nothing to read; the new session is written once.
    expect(sent).toHaveLength(1);
  });
});
