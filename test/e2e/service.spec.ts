import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  type INestApplication,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import request from 'supertest';
import { MemoryBackend, Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { MapBackend } from '../support/map-backend.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  signedValue,
  storageKey,
} from '../support/fixtures/http.js';

type Req = { session?: Session; headers: Record<string, string> };

@Controller()
class ServiceController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login')
  login(@Session() session: Session): { ok: true } {
    session.set('user', 'alice');
    session.set('role', 'admin');
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return { isNew: session.isNew, id: session.id, data: session.toJSON() };
  }

  @Get('regenerate')
  async regenerate(@Req() req: Req, @Session() session: Session): Promise<unknown> {
    const before = session.id;
    const after = await this.sessions.regenerate(req);
    return { before, after: after.id, same: after === req.session, data: after.toJSON() };
  }

  @Get('login-and-regenerate')
  async loginAndRegenerate(@Req() req: Req, @Session() session: Session): Promise<unknown> {
    session.set('user', 'bob');
    const after = await this.sessions.regenerate(req);
    return { id: after.id };
  }

  @Get('regenerate-then-set')
  async regenerateThenSet(@Req() req: Req, @Session() session: Session): Promise<unknown> {
    await this.sessions.regenerate(req);
    session.set('after', 'regenerate');
    return { id: session.id };
  }

  @Get('destroy')
  async destroy(@Req() req: Req): Promise<unknown> {
    await this.sessions.destroy(req);
    const session = req.session!;
    return { isNew: session.isNew, id: session.id, keys: session.keys() };
  }

  @Get('destroy-then-set')
  async destroyThenSet(@Req() req: Req): Promise<unknown> {
    await this.sessions.destroy(req);
    req.session!.set('fresh', true);
    return { keys: req.session!.keys() };
  }

  @Get('from-middleware')
  fromMiddleware(@Session() session: Session): unknown {
    return { visits: session.get('visits') };
  }
}

@Injectable()
class VisitsMiddleware implements NestMiddleware {
  constructor(private readonly sessions: SessionService) {}

  async use(req: Req, _res: unknown, next: (error?: unknown) => void): Promise<void> {
    try {
      const session = await this.sessions.load(req);
      session.set('visits', (session.get('visits', 0) as number) + 1);
      next();
    } catch (error) {
      next(error);
    }
  }
}

function appModule(backend: MemoryBackend | MapBackend) {
  @Module({
    imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
    controllers: [ServiceController],
    providers: [VisitsMiddleware],
  })
  class ServiceAppModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(VisitsMiddleware).forRoutes('from-middleware');
    }
  }
  return ServiceAppModule;
}

describe.each([
  ['MemoryBackend', () => new MemoryBackend()],
  ['a four-method custom backend', () => new MapBackend()],
])('SessionService on %s', (_name, makeBackend) => {
  let app: INestApplication;
  let backend: MemoryBackend | MapBackend;

  beforeEach(async () => {
    backend = makeBackend();
    app = await createApp({ imports: [appModule(backend)] });
  });

  afterEach(async () => {
    await app.close();
  });

  const get = (path: string, cookie?: string) => {
    const req = request(app.getHttpServer()).get(path);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  describe('regenerate', () => {
    it('keeps the data and changes the id and the cookie', async () => {
      const login = await get('/login').expect(200);
      const oldId = idOf(sessionSetCookie(login)!.value);
      const res = await get('/regenerate', cookieFrom(login)).expect(200);
      expect(res.body.before).toBe(oldId);
      expect(res.body.after).not.toBe(oldId);
      expect(res.body.same).toBe(true);
      expect(res.body.data).toEqual({ user: 'alice', role: 'admin' });
      const cookie = sessionSetCookie(res)!;
      expect(idOf(cookie.value)).toBe(res.body.after);
      expect(cookie.value).toBe(signedValue(res.body.after));
      await get('/read', cookieFrom(res)).expect(200, {
        isNew: false,
        id: res.body.after,
        data: { user: 'alice', role: 'admin' },
      });
    });

    it('deletes the old record, so the old cookie no longer works', async () => {
      const login = await get('/login').expect(200);
      const oldId = idOf(sessionSetCookie(login)!.value);
      const res = await get('/regenerate', cookieFrom(login)).expect(200);
      expect(backend.size).toBe(1);
      expect(await backend.read(storageKey(oldId))).toBeNull();
      expect(await backend.read(storageKey(res.body.after))).toMatchObject({ user: 'alice' });
      await get('/read', cookieFrom(login)).expect(200, { isNew: true, id: '', data: {} });
    });

    it('saves changes made after regenerate in the same request under the new id', async () => {
      const login = await get('/login').expect(200);
      const res = await get('/regenerate-then-set', cookieFrom(login)).expect(200);
      expect(idOf(sessionSetCookie(res)!.value)).toBe(res.body.id);
      const read = await get('/read', cookieFrom(res)).expect(200);
      expect(read.body.data).toEqual({ user: 'alice', role: 'admin', after: 'regenerate' });
      expect(backend.size).toBe(1);
    });

    it('gives a session created in the same request an id and a cookie', async () => {
      const res = await get('/login-and-regenerate').expect(200);
      expect(res.body.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(idOf(sessionSetCookie(res)!.value)).toBe(res.body.id);
      expect(backend.size).toBe(1);
      const read = await get('/read', cookieFrom(res)).expect(200);
      expect(read.body.data).toEqual({ user: 'bob' });
    });
  });

  describe('destroy', () => {
    it('deletes the record, clears the cookie and leaves request.session empty', async () => {
      const login = await get('/login').expect(200);
      const oldId = idOf(sessionSetCookie(login)!.value);
      const res = await get('/destroy', cookieFrom(login)).expect(200);
      expect(res.body).toEqual({ isNew: true, id: '', keys: [] });
      expect(backend.size).toBe(0);
      expect(await backend.read(storageKey(oldId))).toBeNull();
      const cleared = sessionSetCookie(res)!;
      expect(cleared.value).toBe('');
      expect(cleared.attributes['max-age']).toBe('0');
      await get('/read', cookieFrom(login)).expect(200, { isNew: true, id: '', data: {} });
    });

    it('starts a fresh session with a new id when data is set after destroy in the same request', async () => {
      const login = await get('/login').expect(200);
      const oldId = idOf(sessionSetCookie(login)!.value);
      const res = await get('/destroy-then-set', cookieFrom(login)).expect(200, {
        keys: ['fresh'],
      });
      const cookie = sessionSetCookie(res)!;
      expect(cookie.value).not.toBe('');
      expect(idOf(cookie.value)).not.toBe(oldId);
      expect(backend.size).toBe(1);
      await get('/read', cookieFrom(res)).expect(200, {
        isNew: false,
        id: idOf(cookie.value),
        data: { fresh: true },
      });
      await get('/read', cookieFrom(login)).expect(200, { isNew: true, id: '', data: {} });
    });

    it('does nothing harmful on a request without a session', async () => {
      const res = await get('/destroy').expect(200, { isNew: true, id: '', keys: [] });
      expect(backend.size).toBe(0);
      expect(sessionSetCookie(res)?.value ?? '').toBe('');
    });
  });

  describe('load from a middleware', () => {
    it('gives a middleware the session the handler sees, and saves its change', async () => {
      const first = await get('/from-middleware').expect(200, { visits: 1 });
      await get('/from-middleware', cookieFrom(first)).expect(200, { visits: 2 });
      await get('/from-middleware', cookieFrom(first)).expect(200, { visits: 3 });
    });
  });
});
