// `@Session()` binds the interceptor to its own handler: routes that don't
// take it never load the session, unless `loadOnEveryRoute` asks for the
// interceptor on every route. Sessions loaded elsewhere (a guard) are still
// saved before the response goes out.
import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET } from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';

interface SessionRequest {
  session?: Session;
}

@Injectable()
class SeenGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await this.sessions.load(context.switchToHttp().getRequest<object>());
    session.set('seen', (session.get('seen', 0) as number) + 1);
    return true;
  }
}

@Controller()
class RoutesController {
  @Get('login')
  login(@Session() session: Session): { ok: boolean } {
    session.set('user', 'ada');
    return { ok: true };
  }

  @Get('read')
  read(@Session('user') user: unknown, @Session() session: Session): unknown {
    return { user: user ?? null, seen: session.get('seen') ?? null, keys: session.keys() };
  }

  @Get('plain')
  plain(@Req() req: SessionRequest): unknown {
    return { loaded: req.session !== undefined, user: req.session?.get('user') ?? null };
  }

  @Get('plain-write')
  plainWrite(@Req() req: SessionRequest): unknown {
    req.session?.set('viaReq', true);
    return { loaded: req.session !== undefined };
  }
}

@Controller()
class GuardedController {
  @Get('guarded')
  @UseGuards(SeenGuard)
  guarded(): { ok: boolean } {
    return { ok: true };
  }
}

/** Controllers in a module of their own that does not import SessionModule. */
@Module({ controllers: [RoutesController] })
class FeatureModule {}

describe('which routes load the session', () => {
  let app: INestApplication;
  let backend: Instrumented<MemoryBackend>;

  async function boot(
    options: Partial<SessionModuleOptions> = {},
    extra: { controllers?: never[]; isGlobal?: boolean } = {},
  ): Promise<void> {
    backend = instrument(new MemoryBackend());
    const sessionModule = SessionModule.forRoot({
      secretKey: SECRET,
      backend,
      isGlobal: extra.isGlobal,
      ...options,
    });
    app = await createApp({
      imports: [sessionModule, FeatureModule],
      controllers: extra.controllers,
      providers: extra.controllers ? [SeenGuard] : [],
    });
  }

  async function login(): Promise<string> {
    return cookieFrom(await request(app.getHttpServer()).get('/login').expect(200));
  }

  afterEach(async () => {
    await app?.close();
  });

  describe('by default (the decorator binds the interceptor)', () => {
    beforeEach(() => boot());

    it('does not read the store for a route without @Session(), even with a valid cookie', async () => {
      const cookie = await login();
      backend.resetCalls();
      const res = await request(app.getHttpServer()).get('/plain').set('Cookie', cookie);
      expect(res.body).toEqual({ loaded: false, user: null });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(backend.total).toBe(0);
    });

    it('loads the session once for a handler with two @Session() parameters, in a module that does not import SessionModule', async () => {
      const cookie = await login();
      backend.resetCalls();
      const res = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(res.body).toEqual({ user: 'ada', seen: null, keys: ['user'] });
      expect(backend.reads).toBe(1);
    });
  });

  describe('a route without @Session() whose guard loads and changes the session', () => {
    beforeEach(() => boot({}, { controllers: [GuardedController as never], isGlobal: true }));

    it('saves a new session and sends its cookie', async () => {
      const res = await request(app.getHttpServer()).get('/guarded').expect(200);
      const cookie = cookieFrom(res);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: null, seen: 1, keys: ['seen'] });
    });

    it('saves the change to an existing session before the response', async () => {
      const cookie = await login();
      await request(app.getHttpServer()).get('/guarded').set('Cookie', cookie).expect(200);
      await request(app.getHttpServer()).get('/guarded').set('Cookie', cookie).expect(200);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'ada', seen: 2, keys: ['user', 'seen'] });
    });
  });

  describe('with loadOnEveryRoute: true', () => {
    beforeEach(() => boot({ loadOnEveryRoute: true }));

    it('loads request.session for a handler that reads it through @Req()', async () => {
      const cookie = await login();
      const res = await request(app.getHttpServer()).get('/plain').set('Cookie', cookie);
      expect(res.body).toEqual({ loaded: true, user: 'ada' });
    });

    it('saves what such a handler changes', async () => {
      const cookie = await login();
      await request(app.getHttpServer()).get('/plain-write').set('Cookie', cookie).expect(200);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'ada', seen: null, keys: ['user', 'viaReq'] });
    });

    it('still reads the store once for a route with @Session()', async () => {
      const cookie = await login();
      backend.resetCalls();
      await request(app.getHttpServer()).get('/read').set('Cookie', cookie).expect(200);
      expect(backend.reads).toBe(1);
    });
  });
});
