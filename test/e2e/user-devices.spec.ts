import { jest } from '@jest/globals';
import { Controller, Get, Logger, Param, Req, type INestApplication } from '@nestjs/common';
import { config, map, take } from 'rxjs';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionBackend,
  SessionModule,
  SessionService,
  type SessionEvent,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, idOf, SECRET } from '../support/fixtures/http.js';
import { userIndexBackends } from '../support/fixtures/user-index-backends.js';
import type { Instrumented } from '../support/instrument.js';

interface Listed {
  handle: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  description: Record<string, unknown>;
  current: boolean;
}

@Controller()
class DeviceController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login/:user')
  async login(@Req() req: object, @Session() session: Session, @Param('user') user: string) {
    session.set('userId', Number(user));
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  /** A login that only sets the user key: the save after the handler indexes it. */
  @Get('sign-in/:user')
  signIn(@Session() session: Session, @Param('user') user: string) {
    session.set('userId', Number(user));
    return { ok: true };
  }

  @Get('me')
  me(@Session('userId') userId?: number) {
    return { userId: userId ?? null };
  }

  @Get('write')
  write(@Session() session: Session) {
    session.set('n', (session.get('n') as number | undefined) ?? 0 + 1);
    return { ok: true };
  }

  @Get('sessions')
  list(@Req() req: object, @Session('userId') userId: number) {
    return this.sessions.listSessions(userId, req);
  }

  @Get('remember/:seconds')
  remember(@Session() session: Session, @Param('seconds') seconds: string) {
    session.setMaxAge(Number(seconds));
    return { ok: true };
  }

  @Get('logout')
  async logout(@Req() req: object) {
    await this.sessions.destroy(req);
    return { ok: true };
  }

  @Get('clear')
  clear(@Session() session: Session) {
    session.clear();
    return { ok: true };
  }

  @Get('logout-everywhere')
  async everywhere(@Session('userId') userId: number) {
    return { ended: await this.sessions.destroyAllSessions(userId) };
  }

  @Get('revoke/:handle')
  async revoke(@Session('userId') userId: number, @Param('handle') handle: string) {
    return { revoked: await this.sessions.destroySession(userId, handle) };
  }
}

const describeDevice = (req: { headers: Record<string, string | undefined>; ip?: string }) => ({
  userAgent: req.headers['user-agent'] ?? '',
  ip: req.ip ?? null,
});

describe.each(userIndexBackends())('devices, limits and events on $name', (kind) => {
  let app: INestApplication;
  let backend: SessionBackend;
  let events: SessionEvent[];

  async function boot(options: Partial<SessionModuleOptions> = {}) {
    backend = await kind.create();
    app = await createApp({
      imports: [
        SessionModule.forRoot({ secretKey: SECRET, backend, userKey: 'userId', ...options }),
      ],
      controllers: [DeviceController],
    });
    events = [];
    app.get(SessionService).events.subscribe((event) => events.push(event));
  }

  const http = () => request(app.getHttpServer());

  async function login(user: number, agent = 'Test/1.0'): Promise<string> {
    return cookieFrom(await http().get(`/login/${user}`).set('User-Agent', agent).expect(200));
  }

  async function whoIs(cookie: string): Promise<number | null> {
    return (await http().get('/me').set('Cookie', cookie).expect(200)).body.userId;
  }

  async function sessionsOf(cookie: string): Promise<Listed[]> {
    return (await http().get('/sessions').set('Cookie', cookie).expect(200)).body as Listed[];
  }

  const handleOf = async (cookie: string) =>
    (await sessionsOf(cookie)).find((s) => s.current)!.handle;

  beforeAll(async () => {
    await kind.setup?.();
  }, 60_000);

  afterAll(async () => {
    await kind.teardown?.();
  }, 30_000);

  afterEach(async () => {
    jest.restoreAllMocks();
    await backend.clear();
    await app.close();
  });

  describe('the device list', () => {
    it('reports when each session was last seen and what describe recorded at login', async () => {
      await boot({ describe: describeDevice });
      const before = Date.now();
      const phone = await login(1, 'Phone/1.0');
      const laptop = await login(1, 'Laptop/2.0 "quoted" \\ é');
      const list = await sessionsOf(phone);
      expect(list.map((s) => s.description.userAgent).sort()).toEqual([
        'Laptop/2.0 "quoted" \\ é',
        'Phone/1.0',
      ]);
      for (const entry of list) {
        expect(typeof entry.description.ip).toBe('string');
        expect(Date.parse(entry.lastSeenAt)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(entry.lastSeenAt)).toBeLessThanOrEqual(Date.now());
        expect(Date.parse(entry.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(entry.createdAt));
      }
      const dump = await kind.dump(backend);
      expect(dump).toContain('Phone/1.0');
      for (const cookie of [phone, laptop]) expect(dump).not.toContain(idOf(cookie.split('=')[1]));
    });

    it('reports an empty description without the describe option', async () => {
      await boot();
      const cookie = await login(1);
      expect((await sessionsOf(cookie))[0].description).toEqual({});
    });

    it('refreshes lastSeenAt with a write once a minute has passed, not before', async () => {
      await boot();
      const cookie = await login(1);
      const [first] = await sessionsOf(cookie);
      await http().get('/write').set('Cookie', cookie).expect(200);
      expect((await sessionsOf(cookie))[0].lastSeenAt).toBe(first.lastSeenAt);
      const later = Date.now() + 61_000;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      await http().get('/me').set('Cookie', cookie).expect(200);
      expect((await sessionsOf(cookie))[0].lastSeenAt).toBe(first.lastSeenAt);
      await http().get('/write').set('Cookie', cookie).expect(200);
      expect(Date.parse((await sessionsOf(cookie))[0].lastSeenAt)).toBe(later);
    });

    it('with rolling, refreshes lastSeenAt on a read once a minute has passed', async () => {
      await boot({ rolling: true });
      const cookie = await login(1);
      const [first] = await sessionsOf(cookie);
      const later = Date.now() + 61_000;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      await http().get('/me').set('Cookie', cookie).expect(200);
      const [seen] = await sessionsOf(cookie);
      expect(Date.parse(seen.lastSeenAt)).toBe(later);
      expect(seen.createdAt).toBe(first.createdAt);
    });
    it('with lazy touch, refreshes lastSeenAt only with a touch that is due', async () => {
      await boot({ rolling: true, touchAfter: 3600 });
      const cookie = await login(1);
      const [first] = await sessionsOf(cookie);
      const start = Date.now();
      const clock = jest.spyOn(Date, 'now').mockReturnValue(start + 61_000);
      await http().get('/me').set('Cookie', cookie).expect(200);
      expect((await sessionsOf(cookie))[0].lastSeenAt).toBe(first.lastSeenAt);
      clock.mockReturnValue(start + 3_601_000);
      await http().get('/me').set('Cookie', cookie).expect(200);
      expect(Date.parse((await sessionsOf(cookie))[0].lastSeenAt)).toBe(start + 3_601_000);
    });
  });

  describe('maxSessionsPerUser', () => {
    it('ends the least recently seen sessions past the limit, and reports them', async () => {
      await boot({ maxSessionsPerUser: 2 });
      const first = await login(1);
      const second = await login(1);
      const other = await login(2);
      const firstHandle = await handleOf(first);
      // The first is seen again later than the second: the second goes.
      const later = Date.now() + 61_000;
      jest.spyOn(Date, 'now').mockReturnValue(later);
      await http().get('/write').set('Cookie', first).expect(200);
      const secondHandle = await handleOf(second);
      events.length = 0;
      const third = await login(1);
      expect(await whoIs(second)).toBeNull();
      expect(await whoIs(first)).toBe(1);
      expect(await whoIs(third)).toBe(1);
      expect(await whoIs(other)).toBe(2);
      const handles = (await sessionsOf(third)).map((s) => s.handle);
      expect(handles).toHaveLength(2);
      expect(handles).toContain(firstHandle);
      expect(events).toContainEqual({
        type: 'destroyed',
        handle: secondHandle,
        user: 1,
        reason: 'limit',
      });
    });

    it('applies to a login that only sets the user key', async () => {
      await boot({ maxSessionsPerUser: 1 });
      const first = await login(1);
      const second = cookieFrom(await http().get('/sign-in/1').expect(200));
      expect(await whoIs(first)).toBeNull();
      expect(await whoIs(second)).toBe(1);
    });

    it('does not count the session a login regenerates', async () => {
      await boot({ maxSessionsPerUser: 1, onLimit: 'reject' });
      const first = await login(1);
      const again = cookieFrom(await http().get('/login/1').set('Cookie', first).expect(200));
      expect(await whoIs(again)).toBe(1);
      expect(await sessionsOf(again)).toHaveLength(1);
    });

    it("with onLimit 'reject', answers the login 409 and stores nothing", async () => {
      await boot({ maxSessionsPerUser: 1, onLimit: 'reject' });
      const first = await login(1);
      events.length = 0;
      const refused = await http().get('/login/1').expect(409);
      expect(refused.body.message).toMatch(/already has 1 session/);
      const cookie = refused.headers['set-cookie'] ? cookieFrom(refused) : undefined;
      if (cookie) expect(await whoIs(cookie)).toBeNull();
      await http().get('/sign-in/1').expect(409);
      expect(await whoIs(first)).toBe(1);
      expect(await sessionsOf(first)).toHaveLength(1);
      expect(events).toEqual([]);
    });

    it('lets exactly one of two concurrent logins in when there is room for one', async () => {
      await boot({ maxSessionsPerUser: 2, onLimit: 'reject' });
      const first = await login(1);
      const responses = await Promise.all([http().get('/login/1'), http().get('/login/1')]);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(await sessionsOf(first)).toHaveLength(2);
    });

    it('keeps the limit when two concurrent logins evict', async () => {
      await boot({ maxSessionsPerUser: 1 });
      const first = await login(1);
      const responses = await Promise.all([http().get('/login/1'), http().get('/login/1')]);
      const cookies = [first, ...responses.map((r) => cookieFrom(r))];
      const live = [];
      for (const cookie of cookies) if ((await whoIs(cookie)) === 1) live.push(cookie);
      expect(live).toHaveLength(1);
      expect(await sessionsOf(live[0])).toHaveLength(1);
    });
  });

  describe('events', () => {
    it('reports created, regenerated and each way a session ends, with its user', async () => {
      await boot();
      const first = await login(1);
      const firstHandle = await handleOf(first);
      expect(events).toEqual([{ type: 'created', handle: firstHandle, user: 1 }]);

      const again = cookieFrom(await http().get('/login/1').set('Cookie', first).expect(200));
      const againHandle = await handleOf(again);
      expect(events.at(-1)).toEqual({ type: 'regenerated', handle: againHandle, user: 1 });

      await http().get('/logout').set('Cookie', again).expect(200);
      expect(events.at(-1)).toEqual({
        type: 'destroyed',
        handle: againHandle,
        user: 1,
        reason: 'logout',
      });

      const cleared = await login(1);
      const clearedHandle = await handleOf(cleared);
      await http().get('/clear').set('Cookie', cleared).expect(200);
      expect(events.at(-1)).toEqual({
        type: 'destroyed',
        handle: clearedHandle,
        reason: 'cleared',
      });

      const a = await login(1);
      const b = await login(1);
      const bHandle = await handleOf(b);
      await http().get(`/revoke/${bHandle}`).set('Cookie', a).expect(200, { revoked: true });
      expect(events.at(-1)).toEqual({
        type: 'destroyed',
        handle: bHandle,
        user: 1,
        reason: 'revoked',
      });
      const aHandle = await handleOf(a);
      events.length = 0;
      await http().get('/logout-everywhere').set('Cookie', a).expect(200, { ended: 1 });
      expect(events).toEqual([
        { type: 'destroyed', handle: aHandle, user: 1, reason: 'logout-everywhere' },
      ]);

      // The browser still holds the ended session's cookie and comes back.
      await http().get('/me').set('Cookie', a).expect(200, { userId: null });
      expect(events.at(-1)).toEqual({ type: 'expired', handle: aHandle });
    });

    it('reports nothing for a request that changes nothing, nor for a failed change', async () => {
      await boot();
      const cookie = await login(1);
      events.length = 0;
      await http().get('/me').set('Cookie', cookie).expect(200);
      await http().get('/write').set('Cookie', cookie).expect(200);
      expect(events).toEqual([]);
      const down = async () => {
        throw new Error('store down');
      };
      const instrumented = backend as Partial<Instrumented<SessionBackend>>;
      if (instrumented.fail)
        for (const method of ['destroy', 'indexDestroy'] as const) instrumented.fail.add(method);
      else Object.assign(backend, { destroy: down, indexDestroy: down });
      await http().get('/logout').set('Cookie', cookie).expect(503);
      expect(events).toEqual([]);
      instrumented.fail?.clear();
      expect(await whoIs(cookie)).toBe(1);
    });
  });
});

describe('the describe option, given bad output', () => {
  let app: INestApplication;
  let warn: jest.SpiedFunction<Logger['warn']>;

  async function boot(describe: (req: { session?: { id: string } }) => unknown) {
    app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          backend: new MemoryBackend(),
          userKey: 'userId',
          describe: describe as SessionModuleOptions['describe'],
        }),
      ],
      controllers: [DeviceController],
    });
  }

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    warn.mockRestore();
    await app.close();
  });

  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;

  it.each([
    [
      'throws',
      () => {
        throw new Error('no user agent');
      },
      /describe` failed \(no user agent\)/,
    ],
    ['returns a string', () => 'phone', /plain object/],
    ['returns an array', () => ['phone'], /plain object/],
    ['returns null', () => null, /plain object/],
    ['returns nothing', () => undefined, /describe/],
    ['returns a promise', async () => ({ a: 1 }), /describe/],
    ['returns a BigInt', () => ({ n: 1n }), /describe/],
    ['returns a function', () => ({ f: () => 1 }), /describe/],
    ['returns a Map', () => ({ m: new Map() }), /describe/],
    ['returns a cycle', () => cycle, /describe/],
    [
      'returns more than 1 KiB of JSON',
      () => ({ ua: 'x'.repeat(1100) }),
      /more than the 1024 allowed/,
    ],
    [
      'returns the session id',
      (req: { session?: { id: string } }) => ({ sid: req.session?.id }),
      /session id/,
    ],
  ])(
    'that %s: the login works, without a description, and a warning says why',
    async (_name, describe, reason) => {
      await boot(describe as (req: { session?: { id: string } }) => unknown);
      const http = () => request(app.getHttpServer());
      const cookie = cookieFrom(await http().get('/sign-in/1').expect(200));
      await http().get('/me').set('Cookie', cookie).expect(200, { userId: 1 });
      const list = (await http().get('/sessions').set('Cookie', cookie).expect(200))
        .body as Listed[];
      expect(list).toHaveLength(1);
      expect(list[0].description).toEqual({});
      expect(warn.mock.calls.map((call) => String(call[0])).join('\n')).toMatch(reason);
    },
  );

  it.each([
    ['the id it had before', (req: { session?: { id: string } }) => ({ sid: req.session?.id })],
    [
      "the request's signed cookie",
      (req: { headers: Record<string, string | undefined> }) => ({ cookie: req.headers.cookie }),
    ],
  ])(
    'that returns, on regenerate, %s: the login works, without a description',
    async (_name, describe) => {
      await boot(describe as (req: { session?: { id: string } }) => unknown);
      const http = () => request(app.getHttpServer());
      const visitor = cookieFrom(await http().get('/write').expect(200));
      const cookie = cookieFrom(await http().get('/login/1').set('Cookie', visitor).expect(200));
      expect(cookie).not.toBe(visitor);
      const list = (await http().get('/sessions').set('Cookie', cookie).expect(200))
        .body as Listed[];
      expect(list).toHaveLength(1);
      expect(list[0].description).toEqual({});
      expect(JSON.stringify(list)).not.toContain(idOf(visitor.split('=')[1]));
      expect(warn.mock.calls.map((call) => String(call[0])).join('\n')).toMatch(/session id/);
    },
  );
});

describe('an index entry after setMaxAge', () => {
  let app: INestApplication;

  afterEach(async () => {
    jest.restoreAllMocks();
    await app.close();
  });

  it('follows a lifetime lengthened right after login: log out everywhere still ends it', async () => {
    app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          maxAge: 60,
          userKey: 'userId',
          backend: new MemoryBackend(),
        }),
      ],
      controllers: [DeviceController],
    });
    const http = () => request(app.getHttpServer());
    const cookie = cookieFrom(await http().get('/sign-in/1').expect(200));
    await http().get('/remember/3600').set('Cookie', cookie).expect(200);
    // Past twice the old lifetime (the old entry's deadline), well within the new one.
    jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 200_000);
    await http().get('/me').set('Cookie', cookie).expect(200, { userId: 1 });
    expect((await http().get('/logout-everywhere').set('Cookie', cookie).expect(200)).body).toEqual(
      { ended: 1 },
    );
    await http().get('/me').set('Cookie', cookie).expect(200, { userId: null });
  });
});

describe('a SessionService.events subscriber that throws', () => {
  let app: INestApplication;
  let unhandled: jest.Mock;
  let logged: jest.SpiedFunction<Logger['error']>;

  beforeEach(() => {
    unhandled = jest.fn();
    config.onUnhandledError = unhandled;
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    config.onUnhandledError = null;
    jest.restoreAllMocks();
    await app.close();
  });

  it('is logged; the other subscribers and the request go on, and nothing is rethrown', async () => {
    app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          userKey: 'userId',
          backend: new MemoryBackend(),
        }),
      ],
      controllers: [DeviceController],
    });
    const { events } = app.get(SessionService);
    const seen: string[] = [];
    const first: string[] = [];
    events.subscribe(() => {
      throw new Error('audit log down');
    });
    events
      .pipe(
        map((event) => {
          if (event.type === 'created') throw new Error('bad operator');
          return event;
        }),
      )
      .subscribe();
    events.pipe(take(1)).subscribe((event) => first.push(event.type));
    events.subscribe({ next: (event) => seen.push(event.type) });
    const http = () => request(app.getHttpServer());
    const cookie = cookieFrom(await http().get('/sign-in/1').expect(200));
    await http().get('/logout').set('Cookie', cookie).expect(200);
    // rxjs reports an error it caught from a subscriber on a later turn.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen).toEqual(['created', 'destroyed']);
    expect(first).toEqual(['created']);
    expect(unhandled).not.toHaveBeenCalled();
    const errors = logged.mock.calls.map((call) => String(call[0])).join('\n');
    expect(errors).toMatch(/SessionService.events.*audit log down/);
    expect(errors).toMatch(/bad operator/);
  });
});
