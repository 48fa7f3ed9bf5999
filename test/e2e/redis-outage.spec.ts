import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import { SessionModule } from '../../src/index.js';
import { AppController } from '../../sample/app.controller.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, newId, SECRET, signedValue, sleep } from '../support/fixtures/http.js';
import { uniquePrefix } from '../support/redis-clients.js';
import {
  freePort,
  hasRedisServer,
  REDIS_HELP,
  startRedis,
  type RedisServer,
} from '../support/redis-server.js';

const COMMAND_TIMEOUT = 500;
/** How long a request may take while Redis is down: well under any HTTP client's patience. */
const PROMPT_MS = 3000;
const WELCOME = { message: 'Welcome back, Alice! Your ID is 123.' };
const LOG_IN_FIRST = { message: 'Please log in first.' };

describe('RedisBackend outages seen over HTTP', () => {
  const prefix = uniquePrefix('redis-outage');
  const servers: RedisServer[] = [];
  const apps: INestApplication[] = [];
  const backends: RedisBackend[] = [];

  beforeAll(() => {
    if (!hasRedisServer()) throw new Error(REDIS_HELP);
  });

  afterAll(async () => {
    for (const backend of backends) await backend.clear().catch(() => undefined);
    for (const app of apps) await app.close();
    for (const server of servers) await server.stop();
  }, 30_000);

  async function boot(port: number): Promise<INestApplication> {
    const backend = new RedisBackend({
      url: `redis://127.0.0.1:${port}`,
      prefix,
      commandTimeout: COMMAND_TIMEOUT,
    });
    backends.push(backend);
    const app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [AppController],
    });
    apps.push(app);
    return app;
  }

  async function start(port: number): Promise<RedisServer> {
    const server = await startRedis(port);
    servers.push(server);
    return server;
  }

  async function stop(server: RedisServer): Promise<void> {
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
  }

  /** Sends a request, failing if it takes PROMPT_MS or more; resolves to the response. */
  async function timed(app: INestApplication, path: string, cookie?: string) {
    const started = Date.now();
    const call = request(app.getHttpServer()).get(path).timeout(5000);
    const response = await (cookie ? call.set('Cookie', cookie) : call);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(PROMPT_MS);
    return response;
  }

  /** Retries `attempt` until it resolves true, at most `tries` times, 100 ms apart. */
  async function eventually(attempt: () => Promise<boolean>, tries = 50): Promise<void> {
    for (let i = 0; i < tries; i += 1) {
      if (await attempt()) return;
      await sleep(100);
    }
    throw new Error(`not recovered after ${tries} tries`);
  }

  it('starts without Redis, answers 503 promptly where a session is needed, and recovers when Redis comes up', async () => {
    const port = await freePort();
    const app = await boot(port);
    const cookie = `session=${signedValue(newId())}`;

    // A signed cookie must be looked up: 503, fast.
    const lookup = await timed(app, '/profile/', cookie);
    expect(lookup.status).toBe(503);
    expect(lookup.body.statusCode).toBe(503);
    // A new session that has to be saved: 503.
    expect((await timed(app, '/login/')).status).toBe(503);
    // No cookie and nothing to save: Redis is not needed.
    const anonymous = await timed(app, '/profile/');
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).toEqual(LOG_IN_FIRST);

    await start(port);
    let session = '';
    await eventually(async () => {
      const response = await request(app.getHttpServer()).get('/login/').timeout(5000);
      if (response.status !== 200) return false;
      session = cookieFrom(response);
      return true;
    });
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', session)
      .timeout(5000)
      .expect(200, WELCOME);
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', cookie)
      .timeout(5000)
      .expect(200, LOG_IN_FIRST);
  }, 30_000);

  it('sets no cookie on the 503 of a login whose session could not be stored', async () => {
    const app = await boot(await freePort());
    const login = await timed(app, '/login/');
    expect(login.status).toBe(503);
    // The cookie would name a session that does not exist.
    expect(login.headers['set-cookie']).toBeUndefined();
  }, 30_000);

  it('answers 503 promptly while Redis is down mid-run, none hanging, and works again after a restart', async () => {
    const port = await freePort();
    const server = await start(port);
    const app = await boot(port);
    const login = await request(app.getHttpServer()).get('/login/').timeout(5000).expect(200);
    const cookie = cookieFrom(login);
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', cookie)
      .timeout(5000)
      .expect(200, WELCOME);

    await stop(server);

    // Several at once, as a browser or a load balancer would send them.
    const during = await Promise.all([
      timed(app, '/profile/', cookie),
      timed(app, '/profile/', cookie),
      timed(app, '/logout/', cookie),
      timed(app, '/login/', cookie),
      timed(app, '/login/'),
    ]);
    expect(during.map((response) => response.status)).toEqual([503, 503, 503, 503, 503]);
    // A second wave, while the client keeps reconnecting, is just as prompt.
    expect((await timed(app, '/profile/', cookie)).status).toBe(503);
    expect((await timed(app, '/profile/')).status).toBe(200);

    await start(port);
    // Nothing was persisted, so the old cookie now finds no session: a new one, not an error.
    await eventually(async () => {
      const response = await request(app.getHttpServer())
        .get('/profile/')
        .set('Cookie', cookie)
        .timeout(5000);
      if (response.status === 503) return false;
      expect(response.status).toBe(200);
      expect(response.body).toEqual(LOG_IN_FIRST);
      return true;
    });
    const again = await request(app.getHttpServer()).get('/login/').timeout(5000).expect(200);
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', cookieFrom(again))
      .timeout(5000)
      .expect(200, WELCOME);
  }, 30_000);
});
