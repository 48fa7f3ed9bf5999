import {
  Controller,
  Get,
  Module,
  type INestApplication,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionMiddleware,
  sessionMiddleware,
  SessionModule,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie } from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';

type Legacy = Session & Record<string, any>;

/** What the middleware after ours saw, for the handler to compare with. */
const seen: { session?: unknown; sessionID?: unknown; ran: number } = { ran: 0 };

/** A Connect middleware written for express-session. */
function countVisits(
  req: { session: Legacy; sessionID?: string },
  _res: unknown,
  next: () => void,
) {
  seen.ran++;
  seen.session = req.session;
  if (req.session.track) req.session.visits = (req.session.visits ?? 0) + 1;
  seen.sessionID = req.sessionID;
  next();
}

@Controller()
class MiddlewareController {
  @Get('start')
  start(@Session() session: Legacy): unknown {
    session.track = true;
    return { ok: true };
  }

  @Get('visits')
  visits(@Session() session: Legacy): unknown {
    return {
      visits: session.get('visits') ?? null,
      same: seen.session === session,
      sessionID: seen.sessionID,
      id: session.id,
    };
  }

  @Get('nothing')
  nothing(): unknown {
    return { ok: true };
  }
}

describe('sessionMiddleware(app)', () => {
  let app: INestApplication;
  let backend: Instrumented<MemoryBackend>;

  beforeEach(async () => {
    seen.ran = 0;
    backend = instrument(new MemoryBackend());
    app = await createApp(
      {
        imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
        controllers: [MiddlewareController],
      },
      {
        beforeInit: (nest) => {
          nest.use(sessionMiddleware(nest));
          nest.use(countVisits);
        },
      },
    );
  });

  afterEach(() => app.close());

  it('loads the session for the middleware after it, and saves what that middleware changed', async () => {
    const start = await request(app.getHttpServer()).get('/start').expect(200);
    const cookie = cookieFrom(start);
    await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(200);
    const res = await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(200);
    expect(res.body.visits).toBe(2);
  });

  it('gives handlers the object the middleware saw, read from the backend once', async () => {
    const cookie = cookieFrom(await request(app.getHttpServer()).get('/start').expect(200));
    backend.resetCalls();
    const res = await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(200);
    expect(res.body.same).toBe(true);
    expect(backend.reads).toBe(1);
  });

  it('sets req.sessionID to the session id', async () => {
    const cookie = cookieFrom(await request(app.getHttpServer()).get('/start').expect(200));
    const res = await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(200);
    expect(res.body.sessionID).toBe(res.body.id);
    expect(res.body.id).toMatch(/^[\w-]{43}$/);
  });

  it('stores nothing and sets no cookie for a request that changes nothing', async () => {
    const res = await request(app.getHttpServer()).get('/nothing').expect(200);
    expect(sessionSetCookie(res)).toBeUndefined();
    expect(backend.total).toBe(0);
    expect(seen.ran).toBe(1);
  });

  it('answers 503 without running what follows when the backend cannot read the session', async () => {
    const cookie = cookieFrom(await request(app.getHttpServer()).get('/start').expect(200));
    backend.fail.add('read').add('readAndTouch');
    seen.ran = 0;
    const res = await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(503);
    expect(res.body).toEqual({
      statusCode: 503,
      message: 'Session store unavailable: could not load the session',
      error: 'Service Unavailable',
    });
    expect(seen.ran).toBe(0);
  });
});

@Module({
  imports: [SessionModule.forRoot({ secretKey: SECRET })],
  controllers: [MiddlewareController],
})
class ConsumerModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionMiddleware, countVisits).forRoutes('*');
  }
}

describe('SessionMiddleware in configure(consumer)', () => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await createApp({ imports: [ConsumerModule] });
  });

  afterEach(() => app.close());

  it('loads the session for the middleware applied after it', async () => {
    const cookie = cookieFrom(await request(app.getHttpServer()).get('/start').expect(200));
    await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(200);
    const res = await request(app.getHttpServer()).get('/visits').set('Cookie', cookie).expect(200);
    expect(res.body).toMatchObject({ visits: 2, same: true });
  });
});

describe('sessionMiddleware without SessionModule', () => {
  it('fails at startup saying to import the module', async () => {
    await expect(
      createApp(
        { controllers: [MiddlewareController] },
        { beforeInit: (nest) => nest.use(sessionMiddleware(nest)) },
      ),
    ).rejects.toThrow('import SessionModule.forRoot');
  });
});

describe('sessionMiddleware with rolling sessions', () => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await createApp(
      {
        imports: [SessionModule.forRoot({ secretKey: SECRET, rolling: true })],
        controllers: [MiddlewareController],
      },
      { beforeInit: (nest) => nest.use(sessionMiddleware(nest)) },
    );
  });

  afterEach(() => app.close());

  it('re-sends the cookie of a session the middleware loaded', async () => {
    const cookie = cookieFrom(await request(app.getHttpServer()).get('/start').expect(200));
    const res = await request(app.getHttpServer())
      .get('/nothing')
      .set('Cookie', cookie)
      .expect(200);
    expect(`session=${sessionSetCookie(res)?.value}`).toBe(cookie);
  });
});
