import {
  Controller,
  Get,
  Injectable,
  Post,
  Query,
  Request,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { AuthGuard, PassportModule } from '@nestjs/passport';
import passport from 'passport';
import request from 'supertest';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import {
  MemoryBackend,
  Session,
  sessionMiddleware,
  SessionModule,
  type SessionBackend,
  type Session as SessionType,
} from '../../src/index.js';
import { createFastifyApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie } from '../support/fixtures/http.js';
import { redisUrl, uniquePrefix } from '../support/redis-clients.js';
import { AuthService, LocalStrategy, SessionSerializer, UsersService } from './passport-recipe.js';

// The same recipe on Fastify: Passport's middleware decorates Node's request
// (request.raw), which Fastify's request wraps, so the guards and handlers
// reach logIn, logout, isAuthenticated, user and the session through request.raw.

@Injectable()
class LocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    const request = context.switchToHttp().getRequest();
    request.raw.user = request.user;
    await super.logIn(request.raw);
    return result;
  }
}

@Injectable()
class AuthenticatedGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    return request.raw.isAuthenticated();
  }
}

type Req = Record<string, any>;

/** Lets a test hold one request in its handler while another runs. */
const gate: { entered?: () => void; release?: Promise<void> } = {};

@Controller()
class AppController {
  @UseGuards(LocalAuthGuard)
  @Post('auth/login')
  login(@Request() req: Req): unknown {
    return req.raw.user;
  }

  @UseGuards(AuthenticatedGuard)
  @Get('profile')
  getProfile(@Request() req: Req): unknown {
    return req.raw.user;
  }

  @Post('auth/logout')
  logout(@Request() req: Req): Promise<unknown> {
    return new Promise((resolve, reject) => {
      req.raw.logout((err: unknown) => (err ? reject(err) : resolve({ ok: true })));
    });
  }

  @Get('visit')
  visit(@Request() req: Req): unknown {
    req.raw.session.views = (req.raw.session.views ?? 0) + 1;
    return { views: req.raw.session.views };
  }

  @UseGuards(AuthenticatedGuard)
  @Post('note')
  async note(@Request() req: Req, @Query('key') key: string, @Query('hold') hold?: string) {
    if (hold) {
      gate.entered?.();
      await gate.release;
    }
    req.raw.session[key] = true;
    return { ok: true };
  }

  @Get('me')
  me(@Session() session: SessionType): unknown {
    return { user: (session.get('passport') as { user?: unknown } | undefined)?.user ?? null };
  }

  @Get('notes')
  notes(@Request() req: Req): unknown {
    return {
      keys: Object.keys(req.raw.session).sort(),
      user: req.raw.session.passport?.user ?? null,
    };
  }
}

const backends: [string, () => SessionBackend][] = [
  ['MemoryBackend', () => new MemoryBackend()],
  [
    'RedisBackend',
    () => new RedisBackend({ url: redisUrl(), prefix: uniquePrefix('passport-fastify') }),
  ],
];

describe.each(backends)('Passport session login on Fastify, %s', (_name, makeBackend) => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await createFastifyApp(
      {
        imports: [
          PassportModule.register({ session: true }),
          SessionModule.forRoot({ secretKey: SECRET, backend: makeBackend() }),
        ],
        controllers: [AppController],
        providers: [UsersService, AuthService, LocalStrategy, SessionSerializer],
      },
      {},
      (nest) => {
        nest.use(sessionMiddleware(nest));
        nest.use(passport.initialize());
        nest.use(passport.session());
      },
    );
  });

  afterEach(() => app.close());

  const login = (cookie?: string, password = 'changeme') => {
    const req = request(app.getHttpServer()).post('/auth/login');
    if (cookie) req.set('Cookie', cookie);
    return req.send({ username: 'john', password });
  };

  it('logs in under a new session id (fixation protection) and keeps the user on later requests', async () => {
    const before = cookieFrom(await request(app.getHttpServer()).get('/visit').expect(200));
    const res = await login(before).expect(201);
    expect(res.body).toEqual({ userId: 1, username: 'john' });
    const after = cookieFrom(res);
    expect(after).not.toBe(before);
    const profile = await request(app.getHttpServer())
      .get('/profile')
      .set('Cookie', after)
      .expect(200);
    expect(profile.body).toEqual({ userId: 1, username: 'john' });
    // @Session() gets the session the middleware loaded on request.raw.
    const me = await request(app.getHttpServer()).get('/me').set('Cookie', after).expect(200);
    expect(me.body).toEqual({ user: { userId: 1, username: 'john' } });
    // The session from before the login is gone: its id cannot reach the user.
    await request(app.getHttpServer()).get('/profile').set('Cookie', before).expect(403);
    const old = await request(app.getHttpServer()).get('/notes').set('Cookie', before);
    expect(old.body).toEqual({ keys: [], user: null });
  });

  it('refuses a wrong password, storing nothing', async () => {
    const res = await login(undefined, 'wrong').expect(401);
    expect(sessionSetCookie(res)).toBeUndefined();
  });

  it('logs out with req.logout(cb): the session ends and its cookie is cleared', async () => {
    const cookie = cookieFrom(await login().expect(201));
    const res = await request(app.getHttpServer())
      .post('/auth/logout')
      .set('Cookie', cookie)
      .expect(201);
    expect(sessionSetCookie(res)?.attributes['max-age']).toBe('0');
    await request(app.getHttpServer()).get('/profile').set('Cookie', cookie).expect(403);
  });

  it('keeps the changes of two overlapping requests of one logged-in user', async () => {
    const cookie = cookieFrom(await login().expect(201));
    let release!: () => void;
    gate.release = new Promise((resolve) => (release = resolve));
    const entered = new Promise<void>((resolve) => (gate.entered = resolve));
    const slow = request(app.getHttpServer())
      .post('/note?key=first&hold=1')
      .set('Cookie', cookie)
      .then((res) => res);
    await entered;
    await request(app.getHttpServer()).post('/note?key=second').set('Cookie', cookie).expect(201);
    release();
    expect((await slow).status).toBe(201);
    const res = await request(app.getHttpServer()).get('/notes').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({
      keys: ['first', 'passport', 'second'],
      user: { userId: 1, username: 'john' },
    });
  });
});
