// PostgresBackend over HTTP beyond the sample flow: a user's sessions listed
// and ended, rows that expire, and two app instances on one database.
import { Controller, Get, Param, Query, Req, type INestApplication } from '@nestjs/common';
import type pg from 'pg';
import request from 'supertest';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, idOf, SECRET, sleep, storageKey } from '../support/fixtures/http.js';
import { adminPool, databaseUrl, dropSchema, uniqueSchema } from '../support/postgres.js';
import { quoted, rowsOf, rowsWith } from '../support/postgres-admin.js';

@Controller()
class AccountController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login/:user')
  async login(@Req() req: object, @Session() session: Session, @Param('user') user: string) {
    session.set('userId', Number(user));
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('me')
  me(@Session('userId') userId?: number) {
    return { userId: userId ?? null };
  }

  @Get('set')
  set(@Session() session: Session, @Query('key') key: string, @Query('value') value: string) {
    session.set(key, value);
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session) {
    return { isNew: session.isNew, data: session.toJSON() };
  }

  @Get('sessions')
  list(@Req() req: object, @Session('userId') userId: number) {
    return this.sessions.listSessions(userId, req);
  }

  @Get('logout-everywhere')
  async everywhere(@Session('userId') userId: number) {
    return { ended: await this.sessions.destroyAllSessions(userId) };
  }

  @Get('logout')
  async logout(@Req() req: object) {
    await this.sessions.destroy(req);
    return { ok: true };
  }
}

interface Instance {
  app: INestApplication;
  backend: PostgresBackend;
}

describe('PostgresBackend over HTTP', () => {
  const schema = uniqueSchema('postgres-sessions');
  let admin: pg.Pool;
  let instances: Instance[] = [];

  async function boot(
    options: { maxAge?: number; rolling?: boolean; pruneIntervalSeconds?: number } = {},
  ): Promise<Instance> {
    const backend = new PostgresBackend({
      connectionString: databaseUrl(),
      schema,
      pruneIntervalSeconds: options.pruneIntervalSeconds ?? 0,
    });
    const app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          backend,
          userKey: 'userId',
          maxAge: options.maxAge,
          rolling: options.rolling,
        }),
      ],
      controllers: [AccountController],
    });
    const instance = { app, backend };
    instances.push(instance);
    return instance;
  }

  const http = (instance: Instance) => request(instance.app.getHttpServer());

  async function login(instance: Instance, user: number): Promise<string> {
    return cookieFrom(await http(instance).get(`/login/${user}`).expect(200));
  }

  async function whoIs(instance: Instance, cookie: string): Promise<number | null> {
    return (await http(instance).get('/me').set('Cookie', cookie).expect(200)).body.userId;
  }

  async function sessionsOf(instance: Instance, cookie: string) {
    return (await http(instance).get('/sessions').set('Cookie', cookie).expect(200)).body as {
      handle: string;
      createdAt: string;
      expiresAt: string;
      current: boolean;
    }[];
  }

  const keyOf = (cookie: string) => storageKey(idOf(cookie.split('=')[1]));

  beforeAll(async () => {
    admin = await adminPool();
  });

  afterEach(async () => {
    for (const { app, backend } of instances) {
      await app.close();
      await backend.close();
    }
    instances = [];
    // Every test starts from empty tables (created by the first backend).
    const tables = await admin.query<{ name: string }>(
      'SELECT tablename AS name FROM pg_tables WHERE schemaname = $1',
      [schema],
    );
    for (const { name } of tables.rows)
      await admin.query(`TRUNCATE ${quoted(schema)}.${quoted(name)}`);
  });

  afterAll(async () => {
    if (admin) await dropSchema(admin, schema);
    await admin?.end();
  });

  describe('expiry', () => {
    it('never serves a row past its expires_at, with no pruning at all', async () => {
      const one = await boot({ maxAge: 1 });
      const cookie = await login(one, 1);
      expect(await whoIs(one, cookie)).toBe(1);
      await sleep(1200);
      // The row is still there (nothing pruned it), but it is not served.
      expect(await rowsWith(admin, schema, keyOf(cookie))).toHaveLength(1);
      expect(await whoIs(one, cookie)).toBeNull();
    });

    it('does not bring an expired session back when a request writes to it', async () => {
      const one = await boot({ maxAge: 3600 });
      const cookie = await login(one, 1);
      await admin.query(
        `UPDATE ${quoted(schema)}.session SET expires_at = now() - interval '1 second'`,
      );
      const response = await http(one).get('/set?key=note&value=late').set('Cookie', cookie);
      expect(response.status).toBe(200);
      // Whatever the request got, the old session is not served again.
      expect((await http(one).get('/read').set('Cookie', cookie).expect(200)).body).toEqual({
        isNew: true,
        data: {},
      });
      const oldRows = await rowsWith(admin, schema, keyOf(cookie));
      for (const row of oldRows)
        expect(Date.parse(JSON.parse(row).expires_at)).toBeLessThan(Date.now());
    });

    it('with rolling, keeps a session alive while it is used and ends it when not', async () => {
      const one = await boot({ maxAge: 2, rolling: true });
      const cookie = await login(one, 1);
      for (let i = 0; i < 3; i += 1) {
        await sleep(900);
        expect(await whoIs(one, cookie)).toBe(1);
      }
      await sleep(2200);
      expect(await whoIs(one, cookie)).toBeNull();
    });

    it('prune() deletes expired rows and their index entries, and keeps the live ones', async () => {
      const one = await boot({ maxAge: 3600 });
      const stale = [await login(one, 1), await login(one, 1)];
      const live = await login(one, 1);
      await admin.query(
        `UPDATE ${quoted(schema)}.session SET expires_at = now() - interval '1 second' WHERE ${stale
          .map((_, i) => `row_to_json(session)::text LIKE $${i + 1}`)
          .join(' OR ')}`,
        stale.map((cookie) => `%${keyOf(cookie)}%`),
      );
      expect(await one.backend.prune()).toBe(2);
      expect(await rowsOf(admin, schema)).toHaveLength(1);
      expect(await rowsWith(admin, schema, keyOf(live))).toHaveLength(1);
      expect(await sessionsOf(one, live)).toHaveLength(1);
      expect(await one.backend.prune()).toBe(0);
    });
  });

  describe('two app instances on one database', () => {
    it('create the tables at once, and share sessions both ways', async () => {
      await admin.query(`DROP SCHEMA ${quoted(schema)} CASCADE`);
      const [a, b] = await Promise.all([boot(), boot()]);
      // Both first uses at the same moment: each creates the tables if missing.
      const [fromA, fromB] = await Promise.all([login(a, 1), login(b, 1)]);

      expect(await whoIs(b, fromA)).toBe(1);
      expect(await whoIs(a, fromB)).toBe(1);
      await http(b).get('/set?key=note&value=from-b').set('Cookie', fromA).expect(200);
      expect((await http(a).get('/read').set('Cookie', fromA).expect(200)).body.data).toEqual({
        userId: 1,
        note: 'from-b',
      });
      expect(await sessionsOf(a, fromB)).toHaveLength(2);
      await http(b).get('/logout').set('Cookie', fromA).expect(200);
      expect(await whoIs(a, fromA)).toBeNull();
      await http(a).get('/logout-everywhere').set('Cookie', fromB).expect(200, { ended: 1 });
      expect(await whoIs(b, fromB)).toBeNull();
    });

    it('prune one at a time: run together, the expired rows are deleted once and neither fails', async () => {
      const [a, b] = await Promise.all([boot(), boot()]);
      const cookies: string[] = [];
      for (let i = 0; i < 20; i += 1) cookies.push(await login(i % 2 ? a : b, i));
      await admin.query(
        `UPDATE ${quoted(schema)}.session SET expires_at = now() - interval '1 second'`,
      );
      const live = await login(a, 99);

      const counts = await Promise.all([
        a.backend.prune(),
        b.backend.prune(),
        a.backend.prune(),
        b.backend.prune(),
      ]);
      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(20);
      expect(await rowsOf(admin, schema)).toHaveLength(1);
      expect(await whoIs(b, live)).toBe(99);
    });

    it('prune in the background on their own, without deleting live sessions', async () => {
      const [a, b] = await Promise.all([
        boot({ pruneIntervalSeconds: 1 }),
        boot({ pruneIntervalSeconds: 1 }),
      ]);
      const stale = await login(a, 1);
      const live = await login(b, 2);
      await admin.query(
        `UPDATE ${quoted(schema)}.session SET expires_at = now() - interval '1 second' WHERE row_to_json(session)::text LIKE $1`,
        [`%${keyOf(stale)}%`],
      );
      for (let i = 0; i < 40 && (await rowsOf(admin, schema)).length > 1; i += 1) await sleep(100);
      expect(await rowsWith(admin, schema, keyOf(stale))).toEqual([]);
      expect(await whoIs(a, live)).toBe(2);
    });
  });
});
