import { Controller, Get, Param, type INestApplication } from '@nestjs/common';
import type pg from 'pg';
import request from 'supertest';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { lockKey } from '../../src/backends/postgres.sql.js';
import { Session, SessionModule, SessionService } from '../../src/index.js';
import { ownerDigest } from '../../src/session.user-index.js';
import { createApp } from '../support/fixtures/app.js';
import { SECRET, setCookies } from '../support/fixtures/http.js';
import { adminPool, databaseUrl, dropSchema, uniqueSchema } from '../support/postgres.js';

@Controller()
class LoginController {
  constructor(private readonly sessions: SessionService) {}

  @Get('sign-in/:user')
  signIn(@Session() session: Session, @Param('user') user: string) {
    session.set('userId', user);
    return { ok: true };
  }

  @Get('me')
  me(@Session('userId') userId?: string) {
    return { userId: userId ?? null };
  }

  @Get('count/:user')
  async count(@Param('user') user: string) {
    return { listed: (await this.sessions.listSessions(user)).length };
  }
}

/**
 * A login whose entry a concurrent login evicts while its record is being
 * written: the evicting transaction (played here on a connection of the
 * test's own, holding the owner's advisory lock) has not committed when the
 * login checks that its entry is still there. The check must wait for it,
 * and then end the session, rather than keep a live session no index lists.
 */
describe("maxSessionsPerUser 'evict-oldest' on PostgresBackend, racing an eviction", () => {
  const schema = uniqueSchema('postgres-limit-race');
  let admin: pg.Pool;
  let backend: PostgresBackend;
  let app: INestApplication;

  beforeAll(async () => {
    admin = await adminPool();
    backend = new PostgresBackend({ connectionString: databaseUrl(), schema });
    app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          backend,
          userKey: 'userId',
          maxSessionsPerUser: 1,
          onLimit: 'evict-oldest',
        }),
      ],
      controllers: [LoginController],
    });
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
    if (admin) await dropSchema(admin, schema);
    await admin?.end();
  });

  /** True once a session waits for an advisory lock held by another. */
  async function someoneWaits(): Promise<boolean> {
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
    );
    return rows[0].n > 0;
  }

  it('ends the login evicted before its record was written, once the eviction commits', async () => {
    const user = 'alice';
    const owner = ownerDigest(user);
    const tables = (backend as unknown as { sql: { sessions: string; entries: string } }).sql;
    const evictor = await admin.connect();
    const write = backend.write.bind(backend);
    let evicted: string | undefined;
    backend.write = async (key, data, ttl) => {
      // The concurrent login: it locks the owner and ends this entry, not
      // committed yet when the record is written.
      evicted = key;
      await evictor.query('BEGIN');
      await evictor.query(
        `SELECT pg_advisory_xact_lock(${lockKey(`owner:${owner}`, tables.sessions)})`,
      );
      await evictor.query(`DELETE FROM ${tables.entries} WHERE owner = $1 AND id = $2`, [
        owner,
        key,
      ]);
      return write(key, data, ttl);
    };
    try {
      let finished = false;
      const login = request(app.getHttpServer())
        .get(`/sign-in/${user}`)
        .then((response) => {
          finished = true;
          return response;
        });
      // Commit the eviction once the login waits for it, or has finished without waiting.
      while (!finished && !(evicted !== undefined && (await someoneWaits()))) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await evictor.query('COMMIT');
      const response = await login;
      expect(evicted).toBeDefined();
      const cookie = setCookies(response).find((c) => c.name === 'session');
      const me = cookie?.value
        ? (await request(app.getHttpServer()).get('/me').set('Cookie', `session=${cookie.value}`))
            .body.userId
        : null;
      const { listed } = (await request(app.getHttpServer()).get(`/count/${user}`)).body;
      // Whatever the login's response said, no session of alice lives unlisted.
      expect(me).toBeNull();
      expect(listed).toBe(0);
    } finally {
      backend.write = write;
      evictor.release();
    }
  });
});
