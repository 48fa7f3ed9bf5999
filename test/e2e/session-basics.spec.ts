import {
  Controller,
  Get,
  Injectable,
  Req,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import request from 'supertest';
import { MemoryBackend, Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { cookieFrom, SECRET } from '../support/fixtures/http.js';

const seen: { guard?: unknown; handler?: unknown; requestSession?: unknown } = {};

@Injectable()
class LoadingGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest();
    seen.guard = await this.sessions.load(req);
    // Loading twice in one request is the same object, and no second read.
    if ((await this.sessions.load(req)) !== seen.guard)
      throw new Error('load() returned another object');
    return true;
  }
}

@Controller()
class BasicsController {
  @Get('set')
  set(@Session() session: Session): { ok: true } {
    session.set('name', 'Alice');
    session.set('count', 1);
    return { ok: true };
  }

  @Get('whole')
  whole(@Session() session: Session): unknown {
    return {
      isSession: session instanceof Session,
      name: session.get('name'),
      count: session.get('count'),
    };
  }

  @Get('key')
  key(@Session('name') name: string | undefined, @Session('missing') missing: unknown): unknown {
    return { name, missing: missing === undefined ? 'undefined' : missing };
  }

  @Get('same')
  same(@Session() session: Session, @Req() req: { session?: unknown }): unknown {
    return { same: req.session === session };
  }

  @Get('guarded')
  @UseGuards(LoadingGuard)
  guarded(@Session() session: Session, @Req() req: { session?: unknown }): unknown {
    seen.handler = session;
    seen.requestSession = req.session;
    return {
      sameAsGuard: seen.guard === session,
      sameAsRequest: req.session === session,
      name: session.get('name'),
    };
  }

  @Get('increment')
  increment(@Session() session: Session): unknown {
    const count = session.get('count', 0) as number;
    session.set('count', count + 1);
    return { count: count + 1 };
  }
}

describe('session basics', () => {
  let app: INestApplication;
  let backend: Instrumented<MemoryBackend>;

  beforeEach(async () => {
    backend = instrument(new MemoryBackend());
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [BasicsController],
    });
  });

  afterEach(async () => {
    await app.close();
    delete seen.guard;
    delete seen.handler;
    delete seen.requestSession;
  });

  it('injects the whole session with @Session() and keeps what the handler set', async () => {
    const login = await request(app.getHttpServer()).get('/set').expect(200);
    const res = await request(app.getHttpServer())
      .get('/whole')
      .set('Cookie', cookieFrom(login))
      .expect(200);
    expect(res.body).toEqual({ isSession: true, name: 'Alice', count: 1 });
  });

  it("injects one value with @Session('key'), undefined when absent", async () => {
    const login = await request(app.getHttpServer()).get('/set').expect(200);
    const res = await request(app.getHttpServer())
      .get('/key')
      .set('Cookie', cookieFrom(login))
      .expect(200);
    expect(res.body).toEqual({ name: 'Alice', missing: 'undefined' });
  });

  it('gives an empty session to a request without a cookie', async () => {
    const res = await request(app.getHttpServer()).get('/whole').expect(200);
    expect(res.body).toEqual({ isSession: true });
  });

  it('injects the same object as request.session', async () => {
    const res = await request(app.getHttpServer()).get('/same').expect(200);
    expect(res.body).toEqual({ same: true });
  });

  it('gives a guard calling load() and the handler the same session, read from the backend once', async () => {
    const login = await request(app.getHttpServer()).get('/set').expect(200);
    backend.resetCalls();
    const res = await request(app.getHttpServer())
      .get('/guarded')
      .set('Cookie', cookieFrom(login))
      .expect(200);
    expect(res.body).toEqual({ sameAsGuard: true, sameAsRequest: true, name: 'Alice' });
    expect(seen.guard).toBe(seen.handler);
    expect(seen.requestSession).toBe(seen.handler);
    expect(backend.reads).toBe(1);
  });

  it('keeps state across requests of one browser', async () => {
    const agent = request.agent(app.getHttpServer());
    await agent.get('/increment').expect(200, { count: 1 });
    await agent.get('/increment').expect(200, { count: 2 });
    await agent.get('/increment').expect(200, { count: 3 });
    expect(backend.size).toBe(1);
  });

  it('keeps two browsers apart', async () => {
    const alice = request.agent(app.getHttpServer());
    const bob = request.agent(app.getHttpServer());
    await alice.get('/increment').expect(200, { count: 1 });
    await alice.get('/increment').expect(200, { count: 2 });
    await bob.get('/increment').expect(200, { count: 1 });
    await alice.get('/increment').expect(200, { count: 3 });
    expect(backend.size).toBe(2);
  });
});
