// `@Session()` binds the interceptor to its own handler: routes that don't
// take it never load the session, unless `loadOnEveryRoute` asks for the
// interceptor on every route. Sessions loaded elsewhere (a guard) are still
// saved before the response goes out.
import {
  Catch,
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  Res,
  UseFilters,
  UseGuards,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
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
import { createApp, sendJson, type RawResponse } from '../support/fixtures/app.js';
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

/**
 * A method decorator of the usual kind (timing, logging, retry) that wraps
 * the handler in a function of its own, placed below the route decorator:
 * the interceptor `@Session()` bound sits on the original function. With
 * `keepMetadata`, it copies the original's metadata over (as some libraries
 * do) but not its name.
 */
function Wrapped(keepMetadata = false): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function (this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
    if (!keepMetadata) return;
    for (const key of Reflect.getMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, original), descriptor.value as object);
    }
  };
}

class BaseRoutes {
  @Get('base')
  base(@Session() session: Session): { ok: boolean } {
    session.set('base', true);
    return { ok: true };
  }
}

@Controller('sub')
class SubRoutesController extends BaseRoutes {
  @Get('base')
  override base(session: Session): { ok: boolean } {
    return super.base(session);
  }
}

@Controller()
class WrappedController {
  @Get('wrapped')
  @Wrapped()
  wrapped(@Session() session: Session): unknown {
    session.set('wrapped', true);
    return { user: session.get('user') ?? null };
  }

  @Get('wrapped-res')
  @Wrapped(true)
  wrappedRes(@Session() session: Session, @Res() res: RawResponse): void {
    session.set('viaRes', 1);
    sendJson(res, { ok: true });
  }
}

/** Answers with the error's message, so the test sees what the logs would say. */
@Catch()
class MessageFilter implements ExceptionFilter {
  catch(error: Error, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<{ status(code: number): RawResponse }>();
    sendJson(res.status(500), { message: error.message });
  }
}

@Controller()
@UseFilters(MessageFilter)
class NoModuleController {
  @Get('bound')
  bound(@Session() session: Session): unknown {
    return { keys: session.keys() };
  }

  @Get('unbound')
  @Wrapped()
  unbound(@Session() session: Session): unknown {
    return { keys: session.keys() };
  }
}

/** A backend whose writes take a while: a save after the response would be seen late. */
class SlowWrites extends MemoryBackend {
  override async patch(...args: Parameters<MemoryBackend['patch']>) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return super.patch(...args);
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

  describe('when the interceptor is not bound to the function Nest calls', () => {
    beforeEach(() =>
      boot({}, { controllers: [WrappedController, SubRoutesController] as never[] }),
    );

    it('gives @Session() the session under a wrapping method decorator, and saves its change', async () => {
      const cookie = await login();
      const res = await request(app.getHttpServer()).get('/wrapped').set('Cookie', cookie);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: 'ada' });
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'ada', seen: null, keys: ['user', 'wrapped'] });
    });

    it('gives @Session() the session in a subclass overriding an inherited route', async () => {
      const cookie = await login();
      await request(app.getHttpServer()).get('/sub/base').set('Cookie', cookie).expect(200);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'ada', seen: null, keys: ['user', 'base'] });
    });
  });

  it('saves before the response of a @Res() handler whose function was renamed by a decorator', async () => {
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend: new SlowWrites() })],
      controllers: [RoutesController, WrappedController],
    });
    const cookie = await login();
    await request(app.getHttpServer()).get('/wrapped-res').set('Cookie', cookie).expect(200);
    const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
    expect(read.body).toEqual({ user: 'ada', seen: null, keys: ['user', 'viaRes'] });
  });

  it.each(['bound', 'unbound'])(
    'fails a %s @Session() route with an error naming SessionModule when it is not imported',
    async (route) => {
      app = await createApp({ controllers: [NoModuleController] });
      const res = await request(app.getHttpServer()).get(`/${route}`);
      expect(res.status).toBe(500);
      expect(res.body.message).toMatch(/import SessionModule\.forRoot/);
    },
  );
});
