import {
  Controller,
  ForbiddenException,
  Get,
  HttpException,
  Injectable,
  Res,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import request from 'supertest';
import { Session, SessionModule, SessionService, type SessionData } from '../../src/index.js';
import { createApp, sendJson, type RawResponse } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  storageKey,
} from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

/** A store that takes its time to write: a response sent before the write finished would show. */
const slowMapBackend = () =>
  instrument(new MapBackend(), { slow: ['write', 'destroy'], delayMs: 150 });

@Injectable()
class RejectingGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await this.sessions.load(context.switchToHttp().getRequest());
    session.set('attempts', (session.get('attempts', 0) as number) + 1);
    throw new ForbiddenException('Not allowed');
  }
}

@Controller()
class LifecycleController {
  @Get('normal')
  normal(@Session() session: Session): { ok: true } {
    session.set('step', 'normal');
    return { ok: true };
  }

  @Get('http-exception')
  httpException(@Session() session: Session): never {
    session.set('step', 'http-exception');
    throw new HttpException({ reason: 'teapot' }, 418);
  }

  @Get('error')
  error(@Session() session: Session): never {
    session.set('step', 'error');
    throw new Error('boom');
  }

  @Get('res')
  res(@Session() session: Session, @Res() res: RawResponse): void {
    session.set('step', 'res');
    sendJson(res, { written: 'by the handler' });
  }

  @Get('passthrough')
  passthrough(
    @Session() session: Session,
    @Res({ passthrough: true }) res: { header(name: string, value: string): unknown },
  ): { ok: true } {
    session.set('step', 'passthrough');
    res.header('x-handler', 'passthrough');
    return { ok: true };
  }

  @Get('res-later')
  resLater(@Session() session: Session, @Res() res: RawResponse): void {
    setTimeout(() => {
      session.set('step', 'res-later');
      sendJson(res, { written: 'later' });
    }, 20);
  }

  @Get('guarded')
  @UseGuards(RejectingGuard)
  guarded(): { ok: true } {
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return session.toJSON();
  }

  @Get('clear')
  clear(@Session() session: Session): { ok: true } {
    session.clear();
    return { ok: true };
  }
}

describe('saving before the response is sent', () => {
  let app: INestApplication;
  let backend: Instrumented<MapBackend>;

  beforeEach(async () => {
    backend = slowMapBackend();
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [LifecycleController],
    });
  });

  afterEach(async () => {
    await app.close();
  });

  /** The record a response's cookie points at, as stored right when the response arrived. */
  function storedFor(res: request.Response): SessionData | undefined {
    const cookie = sessionSetCookie(res);
    if (!cookie) throw new Error(`no session cookie on ${res.status} ${res.text}`);
    return backend.record(storageKey(idOf(cookie.value)));
  }

  it('has saved the session when a normal response arrives', async () => {
    const res = await request(app.getHttpServer()).get('/normal').expect(200, { ok: true });
    expect(storedFor(res)).toMatchObject({ step: 'normal' });
  });

  it('saves the session and sets its cookie when the handler throws an HttpException, which still reaches the client', async () => {
    const res = await request(app.getHttpServer()).get('/http-exception').expect(418);
    expect(res.body).toEqual({ reason: 'teapot' });
    expect(storedFor(res)).toMatchObject({ step: 'http-exception' });
  });

  it('saves the session when the handler throws any other error, and the client gets a 500', async () => {
    const res = await request(app.getHttpServer()).get('/error').expect(500);
    expect(storedFor(res)).toMatchObject({ step: 'error' });
  });

  it('saves a change an @Res() handler makes to an existing session', async () => {
    const first = await request(app.getHttpServer()).get('/res').expect(200);
    const cookie = cookieFrom(first);
    await request(app.getHttpServer())
      .get('/res-later')
      .set('Cookie', cookie)
      .expect(200, { written: 'later' });
    await request(app.getHttpServer())
      .get('/read')
      .set('Cookie', cookie)
      .expect(200, { step: 'res-later' });
  });

  it('puts the cookie on the response and saves the data when the handler writes the response through @Res()', async () => {
    const res = await request(app.getHttpServer())
      .get('/res')
      .expect(200, { written: 'by the handler' });
    expect(storedFor(res)).toMatchObject({ step: 'res' });
    await request(app.getHttpServer())
      .get('/read')
      .set('Cookie', cookieFrom(res))
      .expect(200, { step: 'res' });
  });

  it('has saved the session when the response of an @Res({ passthrough: true }) handler arrives', async () => {
    const res = await request(app.getHttpServer()).get('/passthrough').expect(200, { ok: true });
    expect(res.headers['x-handler']).toBe('passthrough');
    expect(storedFor(res)).toMatchObject({ step: 'passthrough' });
  });

  it('saves a change made by an @Res() handler after it returned, before its response goes out', async () => {
    const res = await request(app.getHttpServer())
      .get('/res-later')
      .expect(200, { written: 'later' });
    expect(storedFor(res)).toMatchObject({ step: 'res-later' });
  });

  it('saves what a guard changed before it threw ForbiddenException, and the client gets the 403', async () => {
    const first = await request(app.getHttpServer()).get('/guarded').expect(403);
    expect(first.body.message).toBe('Not allowed');
    expect(storedFor(first)).toMatchObject({ attempts: 1 });
    const second = await request(app.getHttpServer())
      .get('/guarded')
      .set('Cookie', cookieFrom(first))
      .expect(403);
    expect(second.body.message).toBe('Not allowed');
    await request(app.getHttpServer())
      .get('/read')
      .set('Cookie', cookieFrom(first))
      .expect(200, { attempts: 2 });
  });

  it('has deleted the record when the response to clear() arrives', async () => {
    const login = await request(app.getHttpServer()).get('/normal').expect(200);
    const key = storageKey(idOf(sessionSetCookie(login)!.value));
    expect(backend.has(key)).toBe(true);
    await request(app.getHttpServer()).get('/clear').set('Cookie', cookieFrom(login)).expect(200);
    expect(backend.has(key)).toBe(false);
  });
});
