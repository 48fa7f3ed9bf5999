import { jest } from '@jest/globals';
import {
  Controller,
  Get,
  Logger,
  Module,
  Res,
  type INestApplication,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionModule,
  type SessionModuleOptions,
} from '../../src/index.js';
import {
  createApp,
  createFastifyApp,
  platform,
  sendJson,
  type RawResponse,
} from '../support/fixtures/app.js';
import {
  cookieFrom,
  SECRET,
  sessionSetCookie,
  setCookies,
  sleep,
} from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';

/** Errors the responses emitted (ERR_STREAM_WRITE_AFTER_END is one), recorded by `watchErrors`. */
const responseErrors: Error[] = [];

function watchErrors(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  res.on('error', (error) => responseErrors.push(error));
  next();
}

/** Answers 503 after 50 ms unless the response has started: the usual timeout middleware. */
function timeout(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  setTimeout(() => {
    if (!res.headersSent) {
      res.statusCode = 503;
      res.end('timeout');
    }
  }, 50);
  next();
}

/** Headers (and a cookie) middleware sets on every response, which a 503 should keep. */
function everyResponse(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  res.setHeader('Set-Cookie', 'lb=node-1; Path=/');
  res.setHeader('Access-Control-Allow-Origin', 'https://app.example');
  res.setHeader('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
  res.setHeader('X-Request-Id', 'req-42');
  next();
}

/** What `@Res()` sets headers with on either platform (Express's `res.header`, Fastify's `reply.header`). */
interface HeaderSetter extends RawResponse {
  header(name: string, value: string): void;
}

@Controller()
class HooksController {
  @Get('login')
  login(@Session() session: Session): { ok: true } {
    session.set('user', 'alice');
    return { ok: true };
  }

  @Get('update')
  update(@Session() session: Session): { ok: true } {
    session.set('theme', 'dark');
    return { ok: true };
  }

  @Get('res')
  res(@Session() session: Session, @Res() res: HeaderSetter): void {
    session.set('theme', 'dark');
    res.header('ETag', '"v1"');
    res.header('Content-Disposition', 'attachment; filename="report.json"');
    sendJson(res, { ok: true });
  }

  @Get('ping')
  ping(): { pong: true } {
    return { pong: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return session.toJSON();
  }
}

@Module({ controllers: [HooksController] })
class TimeoutModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(watchErrors, timeout).forRoutes('*');
  }
}

@Module({ controllers: [HooksController] })
class HeadersModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(everyResponse).forRoutes('*');
  }
}

describe('response hooks', () => {
  let app: INestApplication | undefined;
  let errorSpy: jest.SpiedFunction<Logger['error']>;

  beforeEach(() => {
    responseErrors.length = 0;
    errorSpy = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    jest.restoreAllMocks();
  });

  const get = (path: string, cookie?: string) => {
    const req = request(app!.getHttpServer()).get(path);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  const logged = () => errorSpy.mock.calls.map((args) => args.map(String).join(' ')).join('\n');

  describe('a timeout that answers while the session is being saved', () => {
    /** A MemoryBackend whose writes (write, patch, move) take `delayMs` to land, quick at first. */
    const slowMemoryBackend = () =>
      instrument(new MemoryBackend(), { slow: ['write', 'patch', 'move'], delayMs: 0 });
    let backend: Instrumented<MemoryBackend>;

    async function boot(options: Partial<SessionModuleOptions> = {}): Promise<void> {
      backend = slowMemoryBackend();
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET, backend, ...options }), TimeoutModule],
      });
    }

    /** A session cookie for `{ user: 'alice' }`, saved while the store was still quick. */
    async function login(): Promise<string> {
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.delayMs = 200;
      return cookie;
    }

    /** Waits for the pending save, then checks nothing failed and the server still answers. */
    async function expectServing(): Promise<void> {
      await sleep(300);
      expect(responseErrors).toEqual([]);
      expect(logged()).not.toMatch(/write after end|ERR_STREAM_WRITE_AFTER_END/);
      await get('/ping').expect(200, { pong: true });
    }

    it.each([
      ['a handler', '/update'],
      ['an @Res() handler', '/res'],
    ])(
      'sends the timeout, once, when %s creates a session the store is slow to save',
      async (_name, path) => {
        await boot();
        backend.delayMs = 200;
        const res = await get(path).expect(503);
        expect(res.text).toBe('timeout');
        expect(sessionSetCookie(res)).toBeUndefined();
        await expectServing();
      },
    );

    it.each([
      ['a handler', '/update'],
      ['an @Res() handler', '/res'],
    ])(
      'sends the timeout when %s changes an existing session, and still saves the change',
      async (_name, path) => {
        await boot();
        const cookie = await login();
        const res = await get(path, cookie).expect(503);
        expect(res.text).toBe('timeout');
        await expectServing();
        backend.delayMs = 0;
        await get('/read', cookie).expect(200, { user: 'alice', theme: 'dark' });
      },
    );

    if (platform() === 'fastify') {
      it("answers 503 and keeps serving when Fastify's handlerTimeout fires during the save", async () => {
        backend = slowMemoryBackend();
        app = await createFastifyApp(
          {
            imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
            controllers: [HooksController],
          },
          { handlerTimeout: 50 },
        );
        const cookie = await login();
        await get('/update', cookie).expect(503);
        await get('/res', cookie).expect(503);
        backend.delayMs = 0;
        await sleep(300);
        await get('/ping').expect(200, { pong: true });
        await get('/read', cookie).expect(200, { user: 'alice', theme: 'dark' });
      });
    }
  });

  describe('the 503 written when saving fails', () => {
    let backend: Instrumented<MemoryBackend>;

    async function boot(options: Partial<SessionModuleOptions> = {}): Promise<void> {
      backend = instrument(new MemoryBackend());
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET, backend, ...options }), HeadersModule],
      });
    }

    function expectKeptHeaders(res: request.Response): void {
      expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(res.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
      expect(res.headers['x-request-id']).toBe('req-42');
      expect(setCookies(res).map((cookie) => cookie.raw)).toContain('lb=node-1; Path=/');
    }

    it.each([
      ['a handler, for a request with a session cookie (the interceptor answers)', '/update', true],
      ['a handler that creates a session (the response hook answers)', '/update', false],
      ['an @Res() handler, for a request with a session cookie', '/res', true],
      ['an @Res() handler that creates a session', '/res', false],
    ])('keeps the headers middleware set: %s', async (_name, path, withCookie) => {
      await boot();
      const cookie = withCookie ? cookieFrom(await get('/login').expect(200)) : undefined;
      backend.fail.add('write').add('patch');
      const res = await get(path, cookie).expect(503);
      expectKeptHeaders(res);
      expect(sessionSetCookie(res)).toBeUndefined();
    });

    it("drops the @Res() handler's body headers and the session cookie, and keeps the other cookies", async () => {
      await boot({ rolling: true });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.fail.add('write').add('patch');
      const res = await get('/res', cookie).expect(503);
      expectKeptHeaders(res);
      expect(res.headers.etag).toBeUndefined();
      expect(res.headers['content-disposition']).toBeUndefined();
      expect(sessionSetCookie(res)).toBeUndefined();
    });
  });
});
