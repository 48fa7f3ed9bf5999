// A session ended by one request stays ended, whatever a request that loaded
// it earlier does afterwards (a rolling refresh, a save, a regenerate), on
// every kind of backend; and a late response never clears a newer cookie.
import { Controller, Get, Injectable, Query, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionBackend,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, idOf, SECRET, sessionSetCookie } from '../support/fixtures/http.js';
import { MapBackend } from '../support/map-backend.js';
import { redisUrl, uniquePrefix } from '../support/redis-clients.js';

/** Handlers parked on a gate until the test opens it, by name (one set per app). */
@Injectable()
class Gates {
  private readonly waiting = new Map<string, { entered: () => void; open: Promise<void> }>();
  private readonly openers = new Map<string, () => void>();
  private readonly entered = new Map<string, Promise<void>>();

  /** Prepares gate `name`: resolves `entered` when a handler reaches it. */
  arm(name: string): { entered: Promise<void>; open: () => void } {
    let entered!: () => void;
    let open!: () => void;
    const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
    const openPromise = new Promise<void>((resolve) => (open = resolve));
    this.waiting.set(name, { entered, open: openPromise });
    this.openers.set(name, open);
    this.entered.set(name, enteredPromise);
    return { entered: withTimeout(enteredPromise, `gate ${name} never reached`), open };
  }

  async pass(name: string | undefined): Promise<void> {
    if (!name) return;
    const gate = this.waiting.get(name);
    if (!gate) throw new Error(`gate ${name} was not armed`);
    gate.entered();
    await gate.open;
  }
}

function withTimeout<T>(promise: Promise<T>, message: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

@Controller()
class EndedController {
  constructor(
    private readonly sessions: SessionService,
    private readonly gates: Gates,
  ) {}

  @Get('login')
  async login(@Req() req: object, @Session() session: Session, @Query('user') user = 'ann') {
    session.set('userId', user);
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('read')
  async read(@Session() session: Session, @Query('gate') gate?: string) {
    await this.gates.pass(gate);
    return { isNew: session.isNew, data: session.toJSON() };
  }

  @Get('set')
  async set(
    @Session() session: Session,
    @Query('key') key: string,
    @Query('value') value: string,
    @Query('gate') gate?: string,
  ) {
    await this.gates.pass(gate);
    session.set(key, value);
    return { ok: true };
  }

  @Get('set-odd')
  setOdd(@Session() session: Session) {
    // Ordinary JavaScript values that lua-cjson cannot decode.
    session.set('half', '\ud83d');
    session.set('\ude00key', 'low surrogate in the key');
    let deep: unknown = [];
    for (let i = 0; i < 1100; i += 1) deep = [deep];
    session.set('deep', deep);
    return { ok: true };
  }

  @Get('delete')
  remove(@Session() session: Session, @Query('key') key: string) {
    return { deleted: session.delete(key) };
  }

  @Get('numeric')
  numeric(@Session() session: Session, @Query('op') op: string) {
    // Untyped callers pass numbers: they name the same key as their string.
    const key = 42 as unknown as string;
    if (op === 'set') session.set(key, 'qty');
    else session.delete(key);
    return { has: session.has(key) };
  }

  @Get('regenerate')
  async regenerate(@Req() req: object, @Session() session: Session, @Query('gate') gate?: string) {
    await this.gates.pass(gate);
    const after = await this.sessions.regenerate(req);
    return { same: after === session, isNew: after.isNew, data: after.toJSON() };
  }

  @Get('logout')
  async logout(@Req() req: object) {
    await this.sessions.destroy(req);
    return { ok: true };
  }

  @Get('logout-everywhere')
  async everywhere(@Query('user') user = 'ann') {
    return { ended: await this.sessions.destroyAllSessions(user) };
  }

  @Get('sessions')
  async list(@Query('user') user = 'ann') {
    return (await this.sessions.listSessions(user)).map((entry) => entry.handle);
  }
}

interface Kind {
  name: string;
  create(): SessionBackend;
  userIndex: boolean;
}

const kinds: Kind[] = [
  { name: 'MemoryBackend', create: () => new MemoryBackend(), userIndex: true },
  { name: 'a four-method backend', create: () => new MapBackend(), userIndex: false },
  {
    name: 'RedisBackend',
    create: () => new RedisBackend({ url: redisUrl(), prefix: uniquePrefix('ended') }),
    userIndex: true,
  },
];

describe.each(kinds)('ended sessions stay ended on $name', (kind) => {
  let app: INestApplication | undefined;
  let backend: SessionBackend;
  let url: string;

  async function boot(options: Partial<SessionModuleOptions> = {}) {
    backend = kind.create();
    app = await createApp({
      imports: [
        SessionModule.forRoot({
          secretKey: SECRET,
          backend,
          ...(kind.userIndex && { userKey: 'userId' }),
          ...options,
        }),
      ],
      controllers: [EndedController],
      providers: [Gates],
    });
    // A real listening server: requests must be in flight at the same time.
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  }

  afterEach(async () => {
    await backend?.clear();
    await app?.close();
    app = undefined;
  });

  const get = (path: string, cookie?: string) => {
    const req = request(url).get(path).timeout(5000);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  async function login(user = 'ann'): Promise<string> {
    return cookieFrom(await get(`/login?user=${user}`).expect(200));
  }

  async function data(cookie: string): Promise<Record<string, unknown>> {
    return (await get('/read', cookie).expect(200)).body.data;
  }

  /** Starts `slowPath` (which waits at gate `name`), runs `meanwhile`, then lets it finish. */
  async function overlap(name: string, cookie: string, slowPath: string, meanwhile: () => unknown) {
    const gate = app!.get(Gates).arm(name);
    const slow = get(`${slowPath}${slowPath.includes('?') ? '&' : '?'}gate=${name}`, cookie).then(
      (response) => response,
    );
    await gate.entered;
    await meanwhile();
    gate.open();
    return slow;
  }

  describe('with rolling', () => {
    beforeEach(() => boot({ rolling: true }));

    it('a read-only request that loaded the session before a logout does not bring it back', async () => {
      const cookie = await login();
      const slow = await overlap('roll-logout', cookie, '/read', () =>
        get('/logout', cookie).expect(200),
      );
      expect(slow.status).toBe(200);
      expect(slow.body.data).toEqual({ userId: 'ann' });
      expect(await data(cookie)).toEqual({});
    });

    it('a read-only request does not undo a change another request made meanwhile', async () => {
      const cookie = await login();
      await overlap('roll-change', cookie, '/read', () =>
        get('/set?key=theme&value=dark', cookie).expect(200),
      );
      expect(await data(cookie)).toEqual({ userId: 'ann', theme: 'dark' });
    });
  });

  describe('without rolling', () => {
    beforeEach(() => boot());

    it('regenerate does not bring back a session logged out meanwhile', async () => {
      const cookie = await login();
      const slow = await overlap('regen-logout', cookie, '/regenerate', () =>
        get('/logout', cookie).expect(200),
      );
      // Resolves to the request's session, now new and empty; nothing stored, no new cookie.
      expect(slow.body).toEqual({ same: true, isNew: true, data: {} });
      expect(sessionSetCookie(slow)).toBeUndefined();
      expect(await data(cookie)).toEqual({});
      if (kind.userIndex) expect((await get('/sessions').expect(200)).body).toEqual([]);
    });

    if (kind.userIndex)
      it('regenerate does not bring back sessions ended by "log out everywhere" meanwhile', async () => {
        const cookie = await login();
        const slow = await overlap('regen-everywhere', cookie, '/regenerate', async () => {
          expect((await get('/logout-everywhere').expect(200)).body).toEqual({ ended: 1 });
        });
        expect(slow.body).toMatchObject({ isNew: true, data: {} });
        expect(sessionSetCookie(slow)).toBeUndefined();
        expect(await data(cookie)).toEqual({});
        expect((await get('/sessions').expect(200)).body).toEqual([]);
      });

    it('regenerate still moves a live session to a new id, keeping its data', async () => {
      const cookie = await login();
      await get('/set?key=cart&value=3', cookie).expect(200);
      const response = await get('/regenerate', cookie).expect(200);
      expect(response.body).toEqual({
        same: true,
        isNew: false,
        data: { userId: 'ann', cart: '3' },
      });
      const renewed = cookieFrom(response);
      expect(idOf(renewed.split('=')[1])).not.toBe(idOf(cookie.split('=')[1]));
      expect(await data(renewed)).toEqual({ userId: 'ann', cart: '3' });
      expect(await data(cookie)).toEqual({});
    });

    it('regenerate keeps what another request changed meanwhile, and what it deleted stays deleted', async () => {
      const cookie = await login();
      await get('/set?key=role&value=admin', cookie).expect(200);
      const slow = await overlap('regen-merge', cookie, '/regenerate', async () => {
        await get('/set?key=cart&value=3', cookie).expect(200);
        await get('/delete?key=role', cookie).expect(200, { deleted: true });
      });
      expect(await data(cookieFrom(slow))).toEqual({ userId: 'ann', cart: '3' });
    });

    it('a late response does not clear the cookie that a regenerate gave the browser meanwhile', async () => {
      const cookie = await login();
      let renewed = '';
      const slow = await overlap('late-clear', cookie, '/set?key=late&value=1', async () => {
        renewed = cookieFrom(await get('/regenerate', cookie).expect(200));
      });
      expect(slow.status).toBe(200);
      // Its record moved away: the change is dropped, and the cookie left alone.
      expect(sessionSetCookie(slow)).toBeUndefined();
      expect(await data(renewed)).toEqual({ userId: 'ann' });
      expect(await data(cookie)).toEqual({});
    });

    if (kind.userIndex)
      it('a session holding values a Lua JSON decoder rejects stays listed and ends with "log out everywhere"', async () => {
        const cookie = await login();
        await get('/set-odd', cookie).expect(200);
        // A later change to that record must apply, not take the session for gone.
        await get('/set?key=theme&value=dark', cookie).expect(200);
        const stored = await data(cookie);
        expect(stored).toMatchObject({ userId: 'ann', half: '\ud83d', theme: 'dark' });
        expect(stored['\ude00key']).toBe('low surrogate in the key');
        expect((await get('/sessions').expect(200)).body).toHaveLength(1);
        expect((await get('/logout-everywhere').expect(200)).body).toEqual({ ended: 1 });
        expect(await data(cookie)).toEqual({});
      });

    if (kind.userIndex)
      it('regenerate while another request switches the user keeps the record and the index in agreement', async () => {
        const cookie = await login('ann');
        const slow = await overlap('regen-switch', cookie, '/regenerate', async () => {
          await get('/set?key=userId&value=bob', cookie).expect(200);
        });
        const renewed = cookieFrom(slow);
        // The request that regenerates (a login) says who the user is.
        expect(await data(renewed)).toEqual({ userId: 'ann' });
        expect({
          ann: (await get('/sessions?user=ann').expect(200)).body.length,
          bob: (await get('/sessions?user=bob').expect(200)).body.length,
        }).toEqual({ ann: 1, bob: 0 });
        expect((await get('/logout-everywhere?user=ann').expect(200)).body).toEqual({ ended: 1 });
        expect(await data(renewed)).toEqual({});
      });

    it('a number key is its string: set, then deleted by a later request', async () => {
      const cookie = await login();
      await get('/numeric?op=set', cookie).expect(200, { has: true });
      expect(await data(cookie)).toEqual({ userId: 'ann', '42': 'qty' });
      await get('/numeric?op=delete', cookie).expect(200, { has: false });
      expect(await data(cookie)).toEqual({ userId: 'ann' });
    });

    it('a save after a logout neither brings the session back nor clears the cookie', async () => {
      const cookie = await login();
      const slow = await overlap('save-logout', cookie, '/set?key=late&value=1', () =>
        get('/logout', cookie).expect(200),
      );
      expect(sessionSetCookie(slow)).toBeUndefined();
      expect(await data(cookie)).toEqual({});
    });
  });
});
