import { Controller, Get, Query, type INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
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
import { adminClient, redisUrl, uniquePrefix } from '../support/redis-clients.js';
import {
  freePort,
  hasRedisServer,
  REDIS_HELP,
  startRedis,
  type RedisServer,
} from '../support/redis-server.js';

const MAX_AGE = 3600;

/** Beside the sample's routes: a request that changes a session it loaded. */
@Controller()
class NoteController {
  @Get('note')
  note(@Session() session: Session, @Query('text') text: string): { ok: true } {
    session.set('note', text);
    return { ok: true };
  }
}

/** Every key under `prefix`, by SCAN (bounded: the test stores a handful). */
async function keysUnder(admin: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  for (let round = 0; round < 10_000; round += 1) {
    const [next, found] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
    if (cursor === '0') return keys.sort();
  }
  throw new Error('SCAN did not finish');
}

/** `cmdstat_<name>` call counts from INFO commandstats. */
async function commandStats(admin: Redis): Promise<Record<string, number>> {
  const stats: Record<string, number> = {};
  for (const line of (await admin.info('commandstats')).split('\r\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/**
 * The commands Redis ran while `action` ran, by name (INFO, which this helper
 * sends itself, left out). Only meaningful on a server nothing else uses.
 */
async function commandsDuring(
  admin: Redis,
  action: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const before = await commandStats(admin);
  await action();
  const after = await commandStats(admin);
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const ran = calls - (before[name] ?? 0);
    if (name !== 'info' && ran > 0) delta[name] = ran;
  }
  return delta;
}

describe('the sample flow on RedisBackend', () => {
  const prefix = uniquePrefix('redis-flow');
  let admin: Redis;
  let backend: RedisBackend;
  let app: INestApplication;

  beforeAll(async () => {
    admin = adminClient(redisUrl());
    backend = new RedisBackend({ url: redisUrl(), prefix });
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: MAX_AGE })],
      controllers: [AppController],
    });
  });

  afterAll(async () => {
    await backend?.clear();
    await app?.close();
    admin?.disconnect();
  });

  it('stores the login under prefix + sha256(id) with a TTL of maxAge, and never the raw id', async () => {
    const server = app.getHttpServer();
    const login = await request(server).get('/login/').expect(200);
    const id = idOf(sessionSetCookie(login)!.value);
    const key = prefix + storageKey(id);

    expect(await keysUnder(admin, prefix)).toEqual([key]);
    expect(await admin.exists(prefix + id)).toBe(0);
    const raw = await admin.get(key);
    expect(raw).toContain('Alice');
    expect(raw).not.toContain(id);
    const pttl = await admin.pttl(key);
    expect(pttl).toBeGreaterThan((MAX_AGE - 5) * 1000);
    expect(pttl).toBeLessThanOrEqual(MAX_AGE * 1000);

    await request(server)
      .get('/profile/')
      .set('Cookie', cookieFrom(login))
      .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    await request(server).get('/logout/').set('Cookie', cookieFrom(login)).expect(200);
  });

  it('removes the old key when a second login regenerates the id', async () => {
    const server = app.getHttpServer();
    const first = await request(server).get('/login/').expect(200);
    const firstKey = prefix + storageKey(idOf(sessionSetCookie(first)!.value));
    expect(await admin.exists(firstKey)).toBe(1);

    const second = await request(server)
      .get('/login/')
      .set('Cookie', cookieFrom(first))
      .expect(200);
    const secondKey = prefix + storageKey(idOf(sessionSetCookie(second)!.value));
    expect(secondKey).not.toBe(firstKey);
    expect(await admin.exists(firstKey)).toBe(0);
    expect(await keysUnder(admin, prefix)).toEqual([secondKey]);

    await request(server)
      .get('/profile/')
      .set('Cookie', cookieFrom(first))
      .expect(200, { message: 'Please log in first.' });
    await request(server).get('/logout/').set('Cookie', cookieFrom(second)).expect(200);
  });

  it('deletes the key on logout, after which the cookie asks to log in again', async () => {
    const server = app.getHttpServer();
    const login = await request(server).get('/login/').expect(200);
    const cookie = cookieFrom(login);
    const key = prefix + storageKey(idOf(sessionSetCookie(login)!.value));
    expect(await admin.exists(key)).toBe(1);

    const logout = await request(server)
      .get('/logout/')
      .set('Cookie', cookie)
      .expect(200, { message: 'Logged out successfully.' });
    expect(sessionSetCookie(logout)?.attributes['max-age']).toBe('0');
    expect(await admin.exists(key)).toBe(0);
    expect(await keysUnder(admin, prefix)).toEqual([]);

    await request(server)
      .get('/profile/')
      .set('Cookie', cookie)
      .expect(200, { message: 'Please log in first.' });
    expect(await keysUnder(admin, prefix)).toEqual([]);
  });
});

describe('Redis round trips per request (on a redis-server of its own)', () => {
  const prefix = uniquePrefix('redis-flow-count');
  let server: RedisServer;
  let admin: Redis;
  const backends: RedisBackend[] = [];
  const apps: INestApplication[] = [];

  async function boot(rolling: boolean): Promise<INestApplication> {
    const backend = new RedisBackend({ url: server.url, prefix });
    backends.push(backend);
    const app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: MAX_AGE, rolling })],
      controllers: [AppController, NoteController],
    });
    apps.push(app);
    return app;
  }

  async function login(app: INestApplication): Promise<{ cookie: string; key: string }> {
    const response = await request(app.getHttpServer()).get('/login/').expect(200);
    return {
      cookie: cookieFrom(response),
      key: prefix + storageKey(idOf(sessionSetCookie(response)!.value)),
    };
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

  it('sends nothing to Redis for a request without a cookie', async () => {
    const app = await boot(false);
    const ran = await commandsDuring(admin, () =>
      request(app.getHttpServer())
        .get('/profile/')
        .expect(200, { message: 'Please log in first.' }),
    );
    expect(ran).toEqual({});
  });

  it('reads a session with one GET and writes nothing when the request changes nothing', async () => {
    const app = await boot(false);
    const { cookie, key } = await login(app);
    await admin.pexpire(key, 10_000);
    const ran = await commandsDuring(admin, () =>
      request(app.getHttpServer())
        .get('/profile/')
        .set('Cookie', cookie)
        .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' }),
    );
    expect(ran).toEqual({ get: 1 });
    // Without rolling, reading does not extend the session.
    expect(await admin.pttl(key)).toBeLessThanOrEqual(10_000);
  });

  it('with rolling, extends the key on a read-only request with one GETEX', async () => {
    const app = await boot(true);
    const { cookie, key } = await login(app);
    await admin.pexpire(key, 10_000);
    let response: request.Response | undefined;
    const ran = await commandsDuring(admin, async () => {
      response = await request(app.getHttpServer())
        .get('/profile/')
        .set('Cookie', cookie)
        .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    });
    expect(ran).toEqual({ getex: 1 });
    const pttl = await admin.pttl(key);
    expect(pttl).toBeGreaterThan((MAX_AGE - 5) * 1000);
    expect(pttl).toBeLessThanOrEqual(MAX_AGE * 1000);
    expect(sessionSetCookie(response!)?.attributes['max-age']).toBe(String(MAX_AGE));
  });

  it('saves a change with one GET and one EVALSHA', async () => {
    const app = await boot(false);
    const { cookie, key } = await login(app);
    // The first change on a fresh server loads the script (NOSCRIPT, then EVAL); count the next.
    await request(app.getHttpServer()).get('/note?text=warm').set('Cookie', cookie).expect(200);
    const ran = await commandsDuring(admin, () =>
      request(app.getHttpServer()).get('/note?text=hello').set('Cookie', cookie).expect(200),
    );
    // Two round trips: GET to load, EVALSHA to save. Redis also counts the GET
    // and SET that the Lua script runs inside it, under cmdstat_get and cmdstat_set.
    expect(ran).toEqual({ get: 2, evalsha: 1, set: 1 });
    expect(JSON.parse((await admin.get(key))!).note).toBe('"hello"');
  });
});
