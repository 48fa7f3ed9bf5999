import { Controller, Get, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionBackend,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  sleep,
  storageKey,
} from '../support/fixtures/http.js';
import { instrument } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

@Controller()
class ExpiryController {
  constructor(private readonly sessions: SessionService) {}

  @Get('regenerate')
  async regenerate(@Req() req: object): Promise<{ ok: true }> {
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('expires')
  async expires(): Promise<number[]> {
    const list = await this.sessions.listSessions('alice');
    return list.map((entry) => entry.expiresAt.getTime());
  }

  @Get('login')
  login(@Session() session: Session): { ok: true } {
    session.set('user', 'alice');
    return { ok: true };
  }

  @Get('update')
  update(@Session() session: Session): { ok: true } {
    session.set('seen', Date.now());
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return { user: session.get('user') ?? null };
  }
}

async function boot(
  options: Partial<SessionModuleOptions> & { backend: SessionBackend },
): Promise<INestApplication> {
  return createApp({
    imports: [SessionModule.forRoot({ secretKey: SECRET, ...options })],
    controllers: [ExpiryController],
  });
}

/** The expiry a Set-Cookie announces, in ms since the epoch. */
const cookieExpiry = (res: request.Response) =>
  Date.parse(sessionSetCookie(res)!.attributes.expires as string);

describe('expiry', () => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const get = (path: string, cookie?: string) => {
    const req = request(app!.getHttpServer()).get(path);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  it('never serves a record after maxAge, even from a store that ignores TTLs', async () => {
    const backend = new MapBackend({ ignoreTtl: true });
    app = await boot({ backend, maxAge: 1 });
    const cookie = cookieFrom(await get('/login').expect(200));
    await get('/read', cookie).expect(200, { user: 'alice' });
    await sleep(1200);
    expect(backend.size).toBe(1);
    await get('/read', cookie).expect(200, { user: null });
  });

  it('ends a MemoryBackend session after maxAge', async () => {
    app = await boot({ backend: new MemoryBackend(), maxAge: 1 });
    const cookie = cookieFrom(await get('/login').expect(200));
    await sleep(1200);
    await get('/read', cookie).expect(200, { user: null });
  });

  it('without rolling, ends the session at maxAge however often it is used', async () => {
    app = await boot({ backend: new MemoryBackend(), maxAge: 1 });
    const cookie = cookieFrom(await get('/login').expect(200));
    await sleep(600);
    await get('/read', cookie).expect(200, { user: 'alice' });
    await sleep(600);
    await get('/read', cookie).expect(200, { user: null });
  });

  describe('rolling', () => {
    it('keeps a session used within each window alive past the original maxAge, re-sending the cookie', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend, maxAge: 1, rolling: true });
      const cookie = cookieFrom(await get('/login').expect(200));
      for (let i = 0; i < 3; i += 1) {
        await sleep(600);
        const res = await get('/read', cookie).expect(200, { user: 'alice' });
        const reissued = sessionSetCookie(res);
        expect(reissued?.attributes['max-age']).toBe('1');
        expect(`session=${reissued?.value}`).toBe(cookie);
        expect(
          Math.abs(Date.parse(reissued?.attributes.expires as string) - (Date.now() + 1000)),
        ).toBeLessThan(2000);
      }
      await sleep(1200);
      await get('/read', cookie).expect(200, { user: null });
    });

    it('refreshes an unmodified session with touch or readAndTouch on MemoryBackend, never write', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend, maxAge: 60, rolling: true });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.resetCalls();
      await get('/read', cookie).expect(200, { user: 'alice' });
      await get('/read', cookie).expect(200, { user: 'alice' });
      expect(backend.writes).toBe(0);
      expect(backend.calls.touch + backend.calls.readAndTouch).toBeGreaterThanOrEqual(2);
    });

    it('re-sends the cookie with a fresh Max-Age for a modified session too', async () => {
      app = await boot({ backend: new MemoryBackend(), maxAge: 60, rolling: true });
      const cookie = cookieFrom(await get('/login').expect(200));
      const res = await get('/update', cookie).expect(200);
      expect(`session=${sessionSetCookie(res)?.value}`).toBe(cookie);
      expect(sessionSetCookie(res)?.attributes['max-age']).toBe('60');
    });

    it('sets no cookie for a request without a session', async () => {
      app = await boot({ backend: new MemoryBackend(), maxAge: 60, rolling: true });
      const res = await get('/read').expect(200, { user: null });
      expect(sessionSetCookie(res)).toBeUndefined();
    });

    it('keeps a session alive past the original maxAge on a custom backend with only the four methods', async () => {
      const backend = new MapBackend({ ignoreTtl: true });
      app = await boot({ backend, maxAge: 1, rolling: true });
      const cookie = cookieFrom(await get('/login').expect(200));
      for (let i = 0; i < 3; i += 1) {
        await sleep(600);
        await get('/read', cookie).expect(200, { user: 'alice' });
      }
      await sleep(1200);
      await get('/read', cookie).expect(200, { user: null });
    });

    it('ends a session at absoluteTimeout even while it keeps rolling', async () => {
      app = await boot({
        backend: new MemoryBackend(),
        maxAge: 1,
        rolling: true,
        absoluteTimeout: 2,
      });
      const cookie = cookieFrom(await get('/login').expect(200));
      for (let i = 0; i < 3; i += 1) {
        await sleep(550);
        await get('/read', cookie).expect(200, { user: 'alice' });
      }
      await sleep(550);
      await get('/read', cookie).expect(200, { user: null });
    });

    it('ends a session at absoluteTimeout on a store that ignores TTLs', async () => {
      const backend = new MapBackend({ ignoreTtl: true });
      app = await boot({ backend, maxAge: 60, rolling: true, absoluteTimeout: 1 });
      const cookie = cookieFrom(await get('/login').expect(200));
      await get('/read', cookie).expect(200, { user: 'alice' });
      await sleep(1200);
      await get('/read', cookie).expect(200, { user: null });
    });

    it('caps the cookie Max-Age at what absoluteTimeout leaves', async () => {
      app = await boot({
        backend: new MemoryBackend(),
        maxAge: 3600,
        rolling: true,
        absoluteTimeout: 60,
      });
      const res = await get('/login').expect(200);
      expect(Number(sessionSetCookie(res)?.attributes['max-age'])).toBeLessThanOrEqual(60);
      const again = await get('/read', cookieFrom(res)).expect(200);
      expect(Number(sessionSetCookie(again)?.attributes['max-age'])).toBeLessThanOrEqual(60);
    });
  });

  describe('fixed lifetime (no rolling)', () => {
    it('writes do not extend the session: it ends maxAge after creation', async () => {
      const backend = new MapBackend({ ignoreTtl: true });
      app = await boot({ backend, maxAge: 2 });
      const res = await get('/login').expect(200);
      const cookie = cookieFrom(res);
      const key = storageKey(idOf(sessionSetCookie(res)!.value));
      const expiresAt = (backend.record(key)!.__session as { e: number }).e;
      await sleep(1100);
      await get('/update', cookie).expect(200);
      // The record keeps its expiry, and the store TTL is what is left of it.
      expect((backend.record(key)!.__session as { e: number }).e).toBe(expiresAt);
      expect(backend.ttlOf(key)).toBeLessThanOrEqual(1);
      await sleep(1100);
      await get('/read', cookie).expect(200, { user: null });
    });

    it("reports in listSessions the expiry of the browser's cookie, however often the session is written", async () => {
      const backend = new MemoryBackend();
      app = await boot({ backend, maxAge: 60, userKey: 'user' });
      const res = await get('/login').expect(200);
      const cookie = cookieFrom(res);
      await sleep(2500);
      await get('/update', cookie).expect(200);
      const [expiresAt] = (await get('/expires').expect(200)).body as number[];
      // Within the cookie's whole-second rounding, not 2.5 s later.
      expect(Math.abs(expiresAt - cookieExpiry(res))).toBeLessThan(2000);
    });

    it('absoluteTimeout counts from the first creation, through regenerate', async () => {
      app = await boot({ backend: new MemoryBackend(), maxAge: 60, absoluteTimeout: 2 });
      const cookie = cookieFrom(await get('/login').expect(200));
      await sleep(1100);
      const renewed = await get('/regenerate', cookie).expect(200);
      expect(Number(sessionSetCookie(renewed)!.attributes['max-age'])).toBeLessThanOrEqual(1);
      await get('/read', cookieFrom(renewed)).expect(200, { user: 'alice' });
      await sleep(1100);
      await get('/read', cookieFrom(renewed)).expect(200, { user: null });
    });

    it('regenerate gives a fresh maxAge, capped by absoluteTimeout', async () => {
      const backend = new MapBackend({ ignoreTtl: true });
      app = await boot({ backend, maxAge: 2 });
      const cookie = cookieFrom(await get('/login').expect(200));
      await sleep(1100);
      const renewed = await get('/regenerate', cookie).expect(200);
      expect(sessionSetCookie(renewed)!.attributes['max-age']).toBe('2');
      await sleep(1100);
      await get('/read', cookieFrom(renewed)).expect(200, { user: 'alice' });
    });
  });

  describe('rolling near absoluteTimeout', () => {
    it('a rolling read never extends the store past absoluteTimeout', async () => {
      const backend = new MemoryBackend();
      app = await boot({ backend, maxAge: 60, rolling: true, absoluteTimeout: 3, userKey: 'user' });
      const created = Date.now();
      const cookie = cookieFrom(await get('/login').expect(200));
      await sleep(1000);
      const res = await get('/read', cookie).expect(200, { user: 'alice' });
      expect(Number(sessionSetCookie(res)!.attributes['max-age'])).toBeLessThanOrEqual(2);
      const [expiresAt] = (await get('/expires').expect(200)).body as number[];
      expect(expiresAt).toBeLessThanOrEqual(created + 3000 + 1000);
      expect(Math.abs(expiresAt - cookieExpiry(res))).toBeLessThan(2000);
    });
  });
});
