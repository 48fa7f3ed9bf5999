// The header transport: the signed session value in a request header, sent
// back in the same response header; and both transports side by side.
import { Controller, Get, Query, Req, Res, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionModuleOptions,
} from '../../src/index.js';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  newId,
  OLD_SECRET,
  SECRET,
  sessionSetCookie,
  signedValue,
  storageKey,
} from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { redisUrl, uniquePrefix } from '../support/redis-clients.js';

const HEADER = 'x-session-token';

@Controller()
class ApiController {
  constructor(private readonly sessions: SessionService) {}

  /** Sets a CORS header of its own first: the session header is added to it. */
  @Get('login')
  async login(
    @Req() req: object,
    @Session() session: Session,
    @Res({ passthrough: true }) res: { header(name: string, value: string): unknown },
    @Query('user') user = 'alice',
    @Query('expose') expose = 'X-Request-Id',
    @Query('note') note?: string,
  ) {
    res.header('Access-Control-Expose-Headers', expose);
    session.set('user', user);
    await this.sessions.regenerate(req);
    if (note) session.set('note', note);
    return { ok: true };
  }

  @Get('set')
  set(@Session() session: Session, @Query('value') value: string) {
    session.set('note', value);
    return { ok: true };
  }

  @Get('me')
  me(@Session() session: Session) {
    return {
      user: session.get('user') ?? null,
      note: session.get('note') ?? null,
      isNew: session.isNew,
    };
  }

  @Get('logout')
  async logout(@Req() req: object) {
    await this.sessions.destroy(req);
    return { ok: true };
  }
}

async function boot(
  options: Partial<SessionModuleOptions>,
  backend = instrument(new MemoryBackend()),
): Promise<{ app: INestApplication; server: unknown; backend: Instrumented<MemoryBackend> }> {
  const app = await createApp({
    imports: [SessionModule.forRoot({ secretKey: SECRET, backend, ...options })],
    controllers: [ApiController],
  });
  return { app, server: app.getHttpServer(), backend };
}

describe('transport: header', () => {
  let app: INestApplication;
  let server: unknown;
  let backend: Instrumented<MemoryBackend>;

  beforeAll(async () => {
    ({ app, server, backend } = await boot({ transport: 'header', rolling: true }));
  });
  afterAll(() => app.close());

  async function login(): Promise<string> {
    const response = await request(server as never)
      .get('/login')
      .expect(200);
    return response.headers[HEADER] as string;
  }

  it('sends a new session in the response header, listed in Access-Control-Expose-Headers, and no cookie', async () => {
    const response = await request(server as never)
      .get('/login')
      .expect(200);
    const token = response.headers[HEADER] as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
    expect(response.headers['access-control-expose-headers']).toBe(`X-Request-Id, ${HEADER}`);
    expect(response.headers['set-cookie']).toBeUndefined();
    await request(server as never)
      .get('/me')
      .set(HEADER, token)
      .expect(200, { user: 'alice', note: null, isNew: false });
  });

  it('ignores the cookie: only the header carries the session', async () => {
    const token = await login();
    await request(server as never)
      .get('/me')
      .set('Cookie', `session=${token}`)
      .expect(200, { user: null, note: null, isNew: true });
  });

  it('sends nothing back on requests that neither create, regenerate nor re-sign (rolling too)', async () => {
    const token = await login();
    const read = await request(server as never)
      .get('/me')
      .set(HEADER, token)
      .expect(200);
    expect(read.headers[HEADER]).toBeUndefined();
    const change = await request(server as never)
      .get('/set?value=1')
      .set(HEADER, token)
      .expect(200);
    expect(change.headers[HEADER]).toBeUndefined();
    await request(server as never)
      .get('/me')
      .set(HEADER, token)
      .expect(200, { user: 'alice', note: '1', isNew: false });
  });

  it('sends the new token on regenerate; the old one no longer works', async () => {
    const token = await login();
    const again = await request(server as never)
      .get('/login?user=bob')
      .set(HEADER, token)
      .expect(200);
    const renewed = again.headers[HEADER] as string;
    expect(idOf(renewed)).not.toBe(idOf(token));
    await request(server as never)
      .get('/me')
      .set(HEADER, token)
      .expect(200, { user: null, note: null, isNew: true });
    await request(server as never)
      .get('/me')
      .set(HEADER, renewed)
      .expect(200, { user: 'bob', note: null, isNew: false });
  });

  it('sends the header empty on destroy, and the token is dead after', async () => {
    const token = await login();
    const logout = await request(server as never)
      .get('/logout')
      .set(HEADER, token)
      .expect(200);
    expect(logout.headers[HEADER]).toBe('');
    expect(logout.headers['access-control-expose-headers']).toBe(HEADER);
    await request(server as never)
      .get('/me')
      .set(HEADER, token)
      .expect(200, { user: null, note: null, isNew: true });
  });

  it.each([
    ['a bad signature', (token: string) => `${idOf(token)}.${'A'.repeat(43)}`],
    ['a value without a signature', (token: string) => idOf(token)],
    ['the value twice (joined by a comma)', (token: string) => `${token}, ${token}`],
    ['an oversized value', (token: string) => `${token}${'A'.repeat(300)}`],
  ])('treats %s as no session, without asking the backend', async (_name, mangle) => {
    const token = await login();
    backend.resetCalls();
    await request(server as never)
      .get('/me')
      .set(HEADER, mangle(token))
      .expect(200, { user: null, note: null, isNew: true });
    expect(backend.total).toBe(0);
  });

  it('treats a header sent twice as no session', async () => {
    const token = await login();
    backend.resetCalls();
    // Node joins repeated custom headers into one value.
    const response = await request(server as never)
      .get('/me')
      .set(HEADER, [token, token] as never)
      .expect(200);
    expect(response.body).toEqual({ user: null, note: null, isNew: true });
    expect(backend.total).toBe(0);
  });

  it('never adopts an id: a signed id without a record gets a new one on its first save', async () => {
    const stranger = newId();
    const response = await request(server as never)
      .get('/set?value=x')
      .set(HEADER, signedValue(stranger))
      .expect(200);
    const token = response.headers[HEADER] as string;
    expect(token).toBeDefined();
    expect(idOf(token)).not.toBe(stranger);
    expect(await backend.read(storageKey(stranger))).toBeNull();
  });
});

describe('transport: header, when the store fails', () => {
  it('answers 503 without the session header (the CORS list is kept)', async () => {
    const backend = instrument(new MemoryBackend(), { fail: ['write'] });
    const { app, server } = await boot({ transport: 'header' }, backend);
    try {
      const response = await request(server as never)
        .get('/set?value=1')
        .expect(503);
      expect(response.headers[HEADER]).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('lists the header once when CORS already lists it, or lists everything', async () => {
    const { app, server } = await boot({ transport: 'header' });
    try {
      for (const [given, expected] of [
        ['X-Session-Token', 'X-Session-Token'],
        ['*', '*'],
        ['a, b', `a, b, ${HEADER}`],
      ]) {
        const response = await request(server as never)
          .get(`/login?expose=${encodeURIComponent(given)}`)
          .expect(200);
        expect(response.headers['access-control-expose-headers']).toBe(expected);
      }
    } finally {
      await app.close();
    }
  });
});

describe('transport: header, with key rotation', () => {
  it('re-signs a token signed with an older key, in the header', async () => {
    const backend = instrument(new MemoryBackend());
    const old = await boot({ transport: 'header', secretKey: OLD_SECRET }, backend);
    const token = (
      await request(old.server as never)
        .get('/login')
        .expect(200)
    ).headers[HEADER] as string;
    await old.app.close();
    const rotated = await boot({ transport: 'header', secretKey: [SECRET, OLD_SECRET] }, backend);
    try {
      const response = await request(rotated.server as never)
        .get('/me')
        .set(HEADER, token)
        .expect(200);
      expect(response.body).toEqual({ user: 'alice', note: null, isNew: false });
      const resigned = response.headers[HEADER] as string;
      expect(resigned).toBe(signedValue(idOf(token)));
      expect(resigned).not.toBe(token);
    } finally {
      await rotated.app.close();
    }
  });
});

describe("transport: ['cookie', 'header'] with a headerName of its own", () => {
  const NAME = 'x-api-session';
  let app: INestApplication;
  let server: unknown;
  let backend: Instrumented<MemoryBackend>;

  beforeAll(async () => {
    ({ app, server, backend } = await boot({
      transport: ['cookie', 'header'],
      headerName: 'X-Api-Session',
    }));
  });
  afterAll(() => app.close());

  it('answers a request without the header with a cookie only', async () => {
    const response = await request(server as never)
      .get('/login')
      .expect(200);
    expect(response.headers[NAME]).toBeUndefined();
    const cookie = cookieFrom(response);
    await request(server as never)
      .get('/me')
      .set('Cookie', cookie)
      .expect(200, { user: 'alice', note: null, isNew: false });
  });

  it('answers a request that sends the header, even empty, in the header only', async () => {
    const response = await request(server as never)
      .get('/login')
      .set(NAME, '')
      .expect(200);
    expect(sessionSetCookie(response)).toBeUndefined();
    const token = response.headers[NAME] as string;
    expect(token).toBeDefined();
    await request(server as never)
      .get('/me')
      .set(NAME, token)
      .expect(200, { user: 'alice', note: null, isNew: false });
    const logout = await request(server as never)
      .get('/logout')
      .set(NAME, token)
      .expect(200);
    expect(logout.headers[NAME]).toBe('');
    expect(sessionSetCookie(logout)).toBeUndefined();
  });

  it('treats a cookie and a header that disagree as no session', async () => {
    const viaCookie = cookieFrom(
      await request(server as never)
        .get('/login')
        .expect(200),
    );
    const token = (
      await request(server as never)
        .get('/login?user=bob')
        .set(NAME, '')
        .expect(200)
    ).headers[NAME] as string;
    backend.resetCalls();
    await request(server as never)
      .get('/me')
      .set('Cookie', viaCookie)
      .set(NAME, token)
      .expect(200, { user: null, note: null, isNew: true });
    expect(backend.total).toBe(0);
    // The same value both ways is one session.
    await request(server as never)
      .get('/me')
      .set('Cookie', `session=${token}`)
      .set(NAME, token)
      .expect(200, { user: 'bob', note: null, isNew: false });
  });
});

describe('transport: header on RedisBackend', () => {
  it('stores and finds the session by the header token', async () => {
    const redis = new RedisBackend({ url: redisUrl(), prefix: uniquePrefix('header-transport') });
    const { app, server } = await boot({ transport: 'header' }, instrument(redis) as never);
    try {
      const token = (
        await request(server as never)
          .get('/login')
          .expect(200)
      ).headers[HEADER] as string;
      await request(server as never)
        .get('/set?value=r')
        .set(HEADER, token)
        .expect(200);
      await request(server as never)
        .get('/me')
        .set(HEADER, token)
        .expect(200, { user: 'alice', note: 'r', isNew: false });
      await request(server as never)
        .get('/logout')
        .set(HEADER, token)
        .expect(200);
      expect(await redis.read(storageKey(idOf(token)))).toBeNull();
    } finally {
      await redis.clear();
      await app.close();
    }
  });
});
