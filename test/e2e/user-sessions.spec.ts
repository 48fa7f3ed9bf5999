import { Controller, Get, Param, Query, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionBackend,
  SessionModule,
  SessionService,
  type SessionData,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, idOf, SECRET, sleep } from '../support/fixtures/http.js';
import { userIndexBackends } from '../support/fixtures/user-index-backends.js';

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

  @Get('sessions')
  list(@Req() req: object, @Session('userId') userId: number) {
    return this.sessions.listSessions(userId, req);
  }

  @Get('logout-everywhere')
  async everywhere(
    @Req() req: object,
    @Session('userId') userId: number,
    @Query('keep') keep?: string,
  ) {
    const ended = await this.sessions.destroyAllSessions(userId, keep ? { except: req } : {});
    return { ended };
  }

  @Get('revoke/:handle')
  async revoke(@Session('userId') userId: number, @Param('handle') handle: string) {
    return { revoked: await this.sessions.destroySession(userId, handle) };
  }

  @Get('logout')
  async logout(@Req() req: object) {
    await this.sessions.destroy(req);
    return { ok: true };
  }

  @Get('switch/:user')
  switch(@Session() session: Session, @Param('user') user: string) {
    session.set('userId', Number(user));
    return { ok: true };
  }
}

describe.each(userIndexBackends())('log out everywhere on $name', (kind) => {
  let app: INestApplication;
  let backend: SessionBackend;

  async function boot(maxAge?: number) {
    backend = await kind.create();
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, userKey: 'userId', maxAge })],
      controllers: [AccountController],
    });
  }

  async function login(user: number): Promise<string> {
    return cookieFrom(await request(app.getHttpServer()).get(`/login/${user}`).expect(200));
  }

  async function whoIs(cookie: string): Promise<number | null> {
    const response = await request(app.getHttpServer())
      .get('/me')
      .set('Cookie', cookie)
      .expect(200);
    return response.body.userId;
  }

  async function sessionsOf(cookie: string) {
    const response = await request(app.getHttpServer())
      .get('/sessions')
      .set('Cookie', cookie)
      .expect(200);
    return response.body as {
      handle: string;
      createdAt: string;
      expiresAt: string;
      current: boolean;
    }[];
  }

  beforeAll(async () => {
    await kind.setup?.();
  }, 60_000);

  afterAll(async () => {
    await kind.teardown?.();
  }, 30_000);

  afterEach(async () => {
    await backend.clear();
    await app.close();
  });

  it("lists a user's sessions with handles, times and the current one marked", async () => {
    await boot();
    const first = await login(1);
    const second = await login(1);
    await login(2);
    const list = await sessionsOf(first);
    expect(list).toHaveLength(2);
    expect(list.filter((s) => s.current)).toHaveLength(1);
    for (const entry of list) {
      expect(entry.handle).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Date.parse(entry.expiresAt)).toBeGreaterThan(Date.parse(entry.createdAt));
    }
    const handles = list.map((s) => s.handle);
    expect(handles).not.toContain(idOf(first.split('=')[1]));
    expect(handles).not.toContain(idOf(second.split('=')[1]));
  });

  it("ends every session of the user and no other's", async () => {
    await boot();
    const first = await login(1);
    const second = await login(1);
    const other = await login(2);
    const response = await request(app.getHttpServer())
      .get('/logout-everywhere')
      .set('Cookie', first);
    expect(response.body).toEqual({ ended: 2 });
    expect(await whoIs(first)).toBeNull();
    expect(await whoIs(second)).toBeNull();
    expect(await whoIs(other)).toBe(2);
  });

  it("keeps the caller's session with except", async () => {
    await boot();
    const first = await login(1);
    const second = await login(1);
    const response = await request(app.getHttpServer())
      .get('/logout-everywhere?keep=1')
      .set('Cookie', first);
    expect(response.body).toEqual({ ended: 1 });
    expect(await whoIs(first)).toBe(1);
    expect(await whoIs(second)).toBeNull();
    expect(await sessionsOf(first)).toHaveLength(1);
  });

  it('revokes exactly the session of a handle, and only for its owner', async () => {
    await boot();
    const first = await login(1);
    const second = await login(1);
    const third = await login(1);
    const other = await login(2);
    const target = (await sessionsOf(second)).find((s) => s.current)!.handle;

    const stranger = await request(app.getHttpServer())
      .get(`/revoke/${target}`)
      .set('Cookie', other);
    expect(stranger.body).toEqual({ revoked: false });
    expect(await whoIs(second)).toBe(1);

    const owner = await request(app.getHttpServer()).get(`/revoke/${target}`).set('Cookie', first);
    expect(owner.body).toEqual({ revoked: true });
    expect(await whoIs(second)).toBeNull();
    expect(await whoIs(first)).toBe(1);
    expect(await whoIs(third)).toBe(1);
    expect(await sessionsOf(first)).toHaveLength(2);
  });

  it('drops a session from the index when it is destroyed', async () => {
    await boot();
    const first = await login(1);
    const second = await login(1);
    await request(app.getHttpServer()).get('/logout').set('Cookie', second).expect(200);
    expect(await sessionsOf(first)).toHaveLength(1);
  });

  it('moves a session between users when the user key changes', async () => {
    await boot();
    const cookie = await login(1);
    const other = await login(2);
    await request(app.getHttpServer()).get('/switch/2').set('Cookie', cookie).expect(200);
    expect(await sessionsOf(other)).toHaveLength(2);
    const one = await login(1);
    expect(await sessionsOf(one)).toHaveLength(1);
  });

  it('drops expired sessions from the list', async () => {
    await boot(1);
    const first = await login(1);
    await login(1);
    await sleep(1200);
    const fresh = await login(1);
    expect(await whoIs(first)).toBeNull();
    expect(await sessionsOf(fresh)).toHaveLength(1);
  });

  it('keeps no raw session id anywhere in the store', async () => {
    await boot();
    const cookies = [await login(1), await login(1), await login(2)];
    const dump = await kind.dump(backend);
    expect(dump.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(dump).not.toContain(idOf(cookie.split('=')[1]));
  });
});

describe('userKey option', () => {
  class FourMethods extends SessionBackend {
    async read(): Promise<SessionData | null> {
      return null;
    }
    async write(): Promise<void> {}
    async destroy(): Promise<void> {}
    async clear(): Promise<void> {}
  }

  it('fails at startup with a backend that cannot index sessions', async () => {
    await expect(
      createApp({
        imports: [
          SessionModule.forRoot({
            secretKey: SECRET,
            backend: new FourMethods(),
            userKey: 'userId',
          }),
        ],
      }),
    ).rejects.toThrow(/`userKey` needs a backend that can index sessions/);
  });

  it('is required to list sessions', async () => {
    const app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend: new MemoryBackend() })],
    });
    await expect(app.get(SessionService).listSessions(1)).rejects.toThrow(
      /needs the `userKey` option/,
    );
    await app.close();
  });

  describe('user values', () => {
    let app: INestApplication;
    let sessions: SessionService;

    beforeAll(async () => {
      app = await createApp({
        imports: [
          SessionModule.forRoot({
            secretKey: SECRET,
            backend: new MemoryBackend(),
            userKey: 'userId',
          }),
        ],
        controllers: [AccountController],
      });
      sessions = app.get(SessionService);
    });

    afterAll(() => app.close());

    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a BigInt', 10n],
      ['an object', { id: 1 }],
      ['an array', [1]],
      ['NaN', Number.NaN],
      ['a boolean', true],
    ])('refuses %s as a user, with an error naming userKey', async (_name, user) => {
      const error = /`userKey` "userId" \(a string or a finite number/;
      await expect(sessions.listSessions(user)).rejects.toThrow(error);
      await expect(sessions.destroyAllSessions(user)).rejects.toThrow(error);
      await expect(sessions.destroySession(user, 'handle')).rejects.toThrow(error);
    });

    it('takes a string or a number, compared as JSON', async () => {
      const cookie = cookieFrom(await request(app.getHttpServer()).get('/login/7').expect(200));
      await expect(sessions.listSessions(7)).resolves.toHaveLength(1);
      await expect(sessions.listSessions('7')).resolves.toEqual([]);
      await expect(sessions.destroyAllSessions(7)).resolves.toBe(1);
      await request(app.getHttpServer())
        .get('/me')
        .set('Cookie', cookie)
        .expect(200, { userId: null });
    });
  });
});
