// A change made to the session after the handler (by an exception filter, for
// a guard that rejected the request, for a handler whose observable completes
// without a value) is saved before the response is sent, on both platforms,
// for new sessions and for existing ones.
import {
  BadRequestException,
  Catch,
  Controller,
  ForbiddenException,
  Get,
  Injectable,
  Module,
  UseGuards,
  UseInterceptors,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type CallHandler,
  type HttpException,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { EMPTY, tap, timeout, type Observable } from 'rxjs';
import request from 'supertest';
import { MemoryBackend, Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp, sendJson, type RawResponse } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie, sleep } from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

interface StatusResponse extends RawResponse {
  status(code: number): StatusResponse;
}

/** Turns 400s and 403s into a flash message kept in the session, and writes the response. */
@Catch(BadRequestException, ForbiddenException)
@Injectable()
class FlashFilter implements ExceptionFilter {
  constructor(private readonly sessions: SessionService) {}

  async catch(exception: HttpException, host: ArgumentsHost): Promise<void> {
    const http = host.switchToHttp();
    const session = await this.sessions.load(http.getRequest<object>());
    session.set('flash', exception.message);
    const response = http.getResponse<StatusResponse>();
    sendJson(response.status(exception.getStatus()), { error: exception.message });
  }
}

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(_context: ExecutionContext): boolean {
    throw new ForbiddenException('not allowed');
  }
}

/** An app-wide interceptor around ours: it changes the session after the handler's value. */
class StampInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<{ session?: Session; url?: string }>();
    return next.handle().pipe(
      tap(() => {
        if (request.url?.startsWith('/stamped')) request.session?.set('stamp', 'outer');
      }),
    );
  }
}

/** Loads the session before the interceptor runs, as an auth guard does. */
@Injectable()
class LoadGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    await this.sessions.load(context.switchToHttp().getRequest<object>());
    return true;
  }
}

/** Gives up on the handler after 50 ms: Nest's exception filter then answers. */
class TimeoutInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(timeout(50));
  }
}

/** Controller-level, so its interceptor wraps the one `@Session()` binds to the handler. */
@Controller()
@UseInterceptors(TimeoutInterceptor)
class SlowController {
  @Get('slow')
  async slow(@Session() session: Session) {
    session.set('slow', 'started');
    await sleep(200);
    return { ok: true };
  }
}

/** Controller-level timeout over a handler that answers at once: the save outlasts the timeout. */
@Controller()
@UseInterceptors(TimeoutInterceptor)
class QuickController {
  @Get('quick')
  quick(@Session() session: Session) {
    session.set('quick', 'saved');
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session) {
    return session.toJSON();
  }
}

/** Imported before SessionModule, so that its interceptor wraps ours. */
@Module({ providers: [{ provide: APP_INTERCEPTOR, useClass: StampInterceptor }] })
class OuterModule {}

@Controller()
class LateController {
  @Get('stamped')
  stamped(@Session() session: Session) {
    return { isNew: session.isNew };
  }

  @Get('login')
  login(@Session() session: Session) {
    session.set('user', 'ann');
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session) {
    return session.toJSON();
  }

  @Get('invalid')
  invalid(@Session() session: Session): never {
    session.get('user');
    throw new BadRequestException('bad input');
  }

  // Reads an object value by property (handed out live), then fails.
  @Get('live-invalid')
  liveInvalid(@Session() session: Session): never {
    void (session as unknown as { profile: { name: string } }).profile.name;
    throw new BadRequestException('bad input');
  }

  @Get('guarded-live-invalid')
  @UseGuards(LoadGuard)
  guardedLiveInvalid(@Session() session: Session): never {
    void (session as unknown as { profile: { name: string } }).profile.name;
    throw new BadRequestException('bad input');
  }

  @Get('profile')
  profile(@Session() session: Session) {
    session.set('profile', { name: 'ann' });
    return { ok: true };
  }

  @Get('denied')
  @UseGuards(DenyGuard)
  denied() {
    return { unreachable: true };
  }

  @Get('empty')
  empty(@Session() session: Session): Observable<never> {
    session.set('visited', 'empty');
    return EMPTY;
  }
}

describe('changes made after the handler', () => {
  let app: INestApplication;

  beforeAll(async () => {
    app = await createApp({
      imports: [
        OuterModule,
        SessionModule.forRoot({ secretKey: SECRET, backend: new MemoryBackend() }),
      ],
      controllers: [LateController, SlowController],
      providers: [{ provide: APP_FILTER, useClass: FlashFilter }],
    });
  });

  afterAll(() => app.close());

  const get = (path: string, cookie?: string) => {
    const req = request(app.getHttpServer()).get(path);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  it("saves an exception filter's change to an existing session", async () => {
    const cookie = cookieFrom(await get('/login').expect(200));
    await get('/invalid', cookie).expect(400, { error: 'bad input' });
    await get('/read', cookie).expect(200, { user: 'ann', flash: 'bad input' });
  });

  it("saves an exception filter's change to a new session and sends its cookie", async () => {
    const response = await get('/invalid').expect(400, { error: 'bad input' });
    await get('/read', cookieFrom(response)).expect(200, { flash: 'bad input' });
  });

  it("saves the filter's change for a request a guard rejected", async () => {
    const cookie = cookieFrom(await get('/login').expect(200));
    await get('/denied', cookie).expect(403, { error: 'not allowed' });
    await get('/read', cookie).expect(200, { user: 'ann', flash: 'not allowed' });
  });

  it('saves the change an interceptor outside ours makes after the handler', async () => {
    const cookie = cookieFrom(await get('/login').expect(200));
    await get('/stamped', cookie).expect(200, { isNew: false });
    await get('/read', cookie).expect(200, { user: 'ann', stamp: 'outer' });
    // A new session changed only there gets its cookie too.
    const fresh = await get('/stamped').expect(200, { isNew: true });
    await get('/read', cookieFrom(fresh)).expect(200, { stamp: 'outer' });
  });

  // A live read uses the session's change listener while the interceptor
  // manages the save; the filter's later change must still arm the hook.
  it.each(['/live-invalid', '/guarded-live-invalid'])(
    "saves an exception filter's change after the handler read a value live (%s)",
    async (path) => {
      const cookie = cookieFrom(await get('/profile').expect(200));
      await get(path, cookie).expect(400, { error: 'bad input' });
      await get('/read', cookie).expect(200, { profile: { name: 'ann' }, flash: 'bad input' });
    },
  );

  it('saves a new session changed before an outer timeout cut the handler short', async () => {
    const response = await get('/slow').expect(500);
    expect(sessionSetCookie(response)).toBeDefined();
    await get('/read', cookieFrom(response)).expect(200, { slow: 'started' });
  });

  it('saves the change of a handler whose observable completes without a value', async () => {
    const cookie = cookieFrom(await get('/login').expect(200));
    await get('/empty', cookie);
    await get('/read', cookie).expect(200, { user: 'ann', visited: 'empty' });
  });
});

describe('a save that outlasts an outer timeout', () => {
  let app: INestApplication;
  let backend: Instrumented<MapBackend>;

  beforeAll(async () => {
    // Every write takes 150 ms: the interceptor outside ours gives up after 50.
    backend = instrument(new MapBackend(), { slow: ['write'], delayMs: 150 });
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [QuickController],
    });
  });

  afterAll(() => app.close());

  it('holds the response back until the new session is stored, and sends its cookie', async () => {
    const response = await request(app.getHttpServer()).get('/quick').expect(500);
    const cookie = cookieFrom(response);
    await request(app.getHttpServer())
      .get('/read')
      .set('Cookie', cookie)
      .expect(200, { quick: 'saved' });
  });
});
