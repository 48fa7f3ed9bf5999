// touchAfter on Redis, counted in commands on a redis-server of its own: a
// read-only request stays one GET until its touch is due.
import { Controller, Get, type INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import { Session, SessionModule } from '../../src/index.js';
import { META_KEY } from '../../src/session.constants.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  storageKey,
} from '../support/fixtures/http.js';
import { adminClient, uniquePrefix } from '../support/redis-clients.js';
import { commandsDuring } from '../support/redis-commands.js';
import {
  freePort,
  hasRedisServer,
  REDIS_HELP,
  startRedis,
  type RedisServer,
} from '../support/redis-server.js';

const MAX_AGE = 3600;

@Controller()
class ReadController {
  @Get('login')
  login(@Session() session: Session) {
    session.set('userId', 1);
    return { ok: true };
  }

  @Get('remember')
  remember(@Session() session: Session) {
    session.set('userId', 2).setMaxAge(30 * 24 * 3600);
    return { ok: true };
  }

  @Get('read')
  read(@Session('userId') userId?: number) {
    return { userId: userId ?? null };
  }
}

describe('touchAfter on Redis, in commands', () => {
  const prefix = uniquePrefix('redis-touch-after');
  let server: RedisServer;
  let admin: Redis;
  const backends: RedisBackend[] = [];
  const apps: INestApplication[] = [];

  async function boot(touchAfter: number): Promise<unknown> {
    const backend = new RedisBackend({ url: server.url, prefix });
    backends.push(backend);
    const app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          backend,
          maxAge: MAX_AGE,
          rolling: true,
          touchAfter,
        }),
      ],
      controllers: [ReadController],
    });
    apps.push(app);
    return app.getHttpServer();
  }

  async function login(http: unknown, path = '/login') {
    const response = await request(http as never)
      .get(path)
      .expect(200);
    return {
      cookie: cookieFrom(response),
      key: prefix + storageKey(idOf(sessionSetCookie(response)!.value)),
    };
  }

  /** Moves the record's last extension `seconds` into the past (its TTL too). */
  async function age(key: string, seconds: number) {
    const record = JSON.parse((await admin.get(key))!) as Record<string, string>;
    const meta = JSON.parse(record[META_KEY]) as { e: number };
    meta.e -= seconds * 1000;
    record[META_KEY] = JSON.stringify(meta);
    await admin.set(key, JSON.stringify(record), 'PX', (MAX_AGE - seconds) * 1000);
  }

  beforeAll(async () => {
    if (!hasRedisServer()) throw new Error(REDIS_HELP);
    server = await startRedis(await freePort());
    admin = adminClient(server.url);
  }, 30_000);

  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const backend of backends) await backend.close();
    admin?.disconnect();
    await server?.stop();
  }, 30_000);

  it('reads with one GET, no GETEX nor EXPIRE, until the touch is due; then one script', async () => {
    const http = await boot(600);
    const { cookie, key } = await login(http);
    // The first script call on a fresh server loads it (NOSCRIPT, then EVAL): warm it up.
    await age(key, 601);
    await request(http as never)
      .get('/read')
      .set('Cookie', cookie)
      .expect(200);

    let response: request.Response | undefined;
    const quiet = await commandsDuring(admin, async () => {
      response = await request(http as never)
        .get('/read')
        .set('Cookie', cookie)
        .expect(200, { userId: 1 });
    });
    expect(quiet).toEqual({ get: 1 });
    expect(sessionSetCookie(response!)).toBeUndefined();

    await age(key, 601);
    const due = await commandsDuring(admin, async () => {
      response = await request(http as never)
        .get('/read')
        .set('Cookie', cookie)
        .expect(200, { userId: 1 });
    });
    // GET to read, EVALSHA to write the new expiry (Redis counts the script's own GET and SET).
    expect(due).toEqual({ get: 2, evalsha: 1, set: 1 });
    expect(sessionSetCookie(response!)!.attributes['max-age']).toBe(String(MAX_AGE));
    expect(await admin.pttl(key)).toBeGreaterThan((MAX_AGE - 5) * 1000);
  });

  it('without touchAfter, extends on every read with one GETEX (and a session of its own lifetime with one EXPIRE more)', async () => {
    const http = await boot(0);
    const plain = await login(http);
    const ran = await commandsDuring(admin, () =>
      request(http as never)
        .get('/read')
        .set('Cookie', plain.cookie)
        .expect(200, { userId: 1 }),
    );
    expect(ran).toEqual({ getex: 1 });

    const remembered = await login(http, '/remember');
    const twice = await commandsDuring(admin, () =>
      request(http as never)
        .get('/read')
        .set('Cookie', remembered.cookie)
        .expect(200, { userId: 2 }),
    );
    expect(twice).toEqual({ getex: 1, expire: 1 });
    expect(await admin.pttl(remembered.key)).toBeGreaterThan((30 * 24 * 3600 - 5) * 1000);
  });

  it('with touchAfter, a remembered session also reads with one GET', async () => {
    const http = await boot(600);
    const remembered = await login(http, '/remember');
    const ran = await commandsDuring(admin, () =>
      request(http as never)
        .get('/read')
        .set('Cookie', remembered.cookie)
        .expect(200, { userId: 2 }),
    );
    expect(ran).toEqual({ get: 1 });
  });
});
