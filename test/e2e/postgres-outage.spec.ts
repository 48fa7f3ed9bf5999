// PostgreSQL stopped mid-run and started again, on a server of the test's own:
// prompt 503s where the store is needed, the rest served, nothing hanging,
// recovery without a restart, and no session lost or blanked.
import { Controller, Get, Query, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, newId, SECRET, signedValue, sleep } from '../support/fixtures/http.js';
import {
  hasPostgresServer,
  POSTGRES_SERVER_HELP,
  startPostgres,
  type PostgresServer,
} from '../support/postgres-server.js';

const STATEMENT_TIMEOUT = 500;
const CONNECTION_TIMEOUT = 1000;
/** The longest a request may take while PostgreSQL is down: statementTimeout plus a connection attempt, with room. */
const PROMPT_MS = STATEMENT_TIMEOUT + CONNECTION_TIMEOUT + 1000;

@Controller()
class OutageController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login')
  async login(@Req() req: object, @Session() session: Session, @Query('user') user = 'alice') {
    session.set('user', user);
    session.set('visits', 0);
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session) {
    return { isNew: session.isNew, data: session.toJSON() };
  }

  @Get('visit')
  visit(@Session() session: Session) {
    const visits = ((session.get('visits') as number | undefined) ?? 0) + 1;
    session.set('visits', visits);
    return { visits };
  }

  @Get('logout')
  async logout(@Req() req: object) {
    await this.sessions.destroy(req);
    return { ok: true };
  }

  @Get('health')
  health() {
    return { ok: true };
  }
}

describe('PostgresBackend outages seen over HTTP', () => {
  let server: PostgresServer;
  const apps: INestApplication[] = [];
  const backends: PostgresBackend[] = [];

  beforeAll(async () => {
    if (!hasPostgresServer()) throw new Error(POSTGRES_SERVER_HELP);
    server = await startPostgres();
  }, 60_000);

  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const backend of backends) await backend.close().catch(() => undefined);
    await server?.destroy();
  }, 60_000);

  async function boot(url = server.url): Promise<INestApplication> {
    const backend = new PostgresBackend({
      connectionString: url,
      statementTimeout: STATEMENT_TIMEOUT,
      connectionTimeout: CONNECTION_TIMEOUT,
      pruneIntervalSeconds: 1,
    });
    backends.push(backend);
    const app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [OutageController],
    });
    apps.push(app);
    return app;
  }

  /** Sends a request, failing if it takes PROMPT_MS or more; resolves to the response. */
  async function timed(app: INestApplication, path: string, cookie?: string) {
    const started = Date.now();
    const call = request(app.getHttpServer()).get(path).timeout(10_000);
    const response = await (cookie ? call.set('Cookie', cookie) : call);
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    return response;
  }

  /** Retries `attempt` until it resolves true, at most `tries` times, 100 ms apart. */
  async function eventually(attempt: () => Promise<boolean>, tries = 100): Promise<void> {
    for (let i = 0; i < tries; i += 1) {
      if (await attempt()) return;
      await sleep(100);
    }
    throw new Error(`not recovered after ${tries} tries`);
  }

  const read = async (app: INestApplication, cookie: string) =>
    (await request(app.getHttpServer()).get('/read').set('Cookie', cookie).timeout(10_000))
      .body as { isNew: boolean; data: Record<string, unknown> };

  it('answers 503 promptly while PostgreSQL is down mid-run, none hanging, and recovers with every session intact', async () => {
    const app = await boot();
    const alice = cookieFrom(await timed(app, '/login?user=alice'));
    const bob = cookieFrom(await timed(app, '/login?user=bob'));
    expect((await timed(app, '/visit', alice)).body).toEqual({ visits: 1 });
    expect((await read(app, bob)).data).toEqual({ user: 'bob', visits: 0 });

    await server.stop();

    // Several at once, as a browser or a load balancer would send them.
    const during = await Promise.all([
      timed(app, '/read', alice),
      timed(app, '/visit', alice),
      timed(app, '/visit', bob),
      timed(app, '/logout', bob),
      timed(app, '/login', alice),
      timed(app, '/login'),
    ]);
    expect(during.map((response) => response.status)).toEqual([503, 503, 503, 503, 503, 503]);
    expect(during[0].body.statusCode).toBe(503);
    // A 503 login sets no cookie: it would name a session that does not exist.
    expect(during[5].headers['set-cookie']).toBeUndefined();
    // A second wave, with the pool's connections gone, is just as prompt.
    expect((await timed(app, '/read', alice)).status).toBe(503);
    expect((await timed(app, '/read', `session=${signedValue(newId())}`)).status).toBe(503);
    // No cookie and nothing to save: PostgreSQL is not needed.
    const anonymous = await timed(app, '/health');
    expect(anonymous.status).toBe(200);
    expect((await timed(app, '/read')).body).toEqual({ isNew: true, data: {} });

    await server.start();

    // The same app, not restarted: the sessions are back as they were, neither
    // lost nor blanked, and none of the failed changes half-applied.
    await eventually(async () => {
      const response = await request(app.getHttpServer())
        .get('/read')
        .set('Cookie', alice)
        .timeout(10_000);
      return response.status === 200;
    });
    expect(await read(app, alice)).toEqual({
      isNew: false,
      data: { user: 'alice', visits: 1 },
    });
    expect(await read(app, bob)).toEqual({ isNew: false, data: { user: 'bob', visits: 0 } });
    expect((await timed(app, '/visit', alice)).body).toEqual({ visits: 2 });
    expect((await read(app, alice)).data).toEqual({ user: 'alice', visits: 2 });
    const again = await timed(app, '/login?user=carol');
    expect(again.status).toBe(200);
    expect((await read(app, cookieFrom(again))).data).toEqual({ user: 'carol', visits: 0 });
  }, 60_000);

  it('keeps answering promptly through a second outage, with the background pruner running', async () => {
    const app = await boot();
    const cookie = cookieFrom(await timed(app, '/login?user=dave'));
    await server.stop();
    // Long enough for the pruner's timer to fire against a stopped server.
    await sleep(1500);
    expect((await timed(app, '/read', cookie)).status).toBe(503);
    expect((await timed(app, '/health')).status).toBe(200);
    await server.start();
    await eventually(async () => {
      const response = await request(app.getHttpServer())
        .get('/read')
        .set('Cookie', cookie)
        .timeout(10_000);
      return response.status === 200;
    });
    expect((await read(app, cookie)).data).toEqual({ user: 'dave', visits: 0 });
  }, 60_000);

  it('answers 503 promptly while PostgreSQL hangs without answering, and recovers with sessions intact', async () => {
    const app = await boot();
    const cookie = cookieFrom(await timed(app, '/login?user=erin'));
    expect((await timed(app, '/visit', cookie)).body).toEqual({ visits: 1 });

    server.freeze();
    try {
      // Queries on open connections and attempts at new ones both hang: each
      // request still ends, within statementTimeout or connectionTimeout.
      const during = await Promise.all([
        timed(app, '/read', cookie),
        timed(app, '/visit', cookie),
        timed(app, '/login'),
        timed(app, '/read', cookie),
        timed(app, '/read', cookie),
      ]);
      expect(during.map((response) => response.status)).toEqual([503, 503, 503, 503, 503]);
      expect((await timed(app, '/read', cookie)).status).toBe(503);
      expect((await timed(app, '/health')).status).toBe(200);
    } finally {
      server.thaw();
    }

    await eventually(async () => {
      const response = await request(app.getHttpServer())
        .get('/read')
        .set('Cookie', cookie)
        .timeout(10_000);
      return response.status === 200;
    });
    // The change sent while it hung may have landed (PostgreSQL ran it on
    // waking) or not; either way nothing else was lost or blanked.
    const { data } = await read(app, cookie);
    expect(data.user).toBe('erin');
    expect([1, 2]).toContain(data.visits);
  }, 60_000);

  it('starts with PostgreSQL unreachable, answers 503 promptly, and serves once it is up', async () => {
    const down = await startPostgres();
    await down.stop();
    try {
      const app = await boot(down.url);
      expect((await timed(app, '/login')).status).toBe(503);
      expect((await timed(app, '/read', `session=${signedValue(newId())}`)).status).toBe(503);
      expect((await timed(app, '/health')).status).toBe(200);

      await down.start();
      let cookie = '';
      await eventually(async () => {
        const response = await request(app.getHttpServer()).get('/login').timeout(10_000);
        if (response.status !== 200) return false;
        cookie = cookieFrom(response);
        return true;
      });
      expect((await read(app, cookie)).data).toEqual({ user: 'alice', visits: 0 });
    } finally {
      await down.destroy();
    }
  }, 90_000);
});
