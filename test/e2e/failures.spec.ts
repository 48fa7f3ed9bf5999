import { jest } from '@jest/globals';
import {
  Controller,
  Get,
  Injectable,
  Logger,
  Req,
  Res,
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
import { createApp, sendJson, type RawResponse } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  newId,
  SECRET,
  sessionSetCookie,
  signedValue,
  storageKey,
} from '../support/fixtures/http.js';
import { instrument } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

/** How many times a handler of this app ran. */
@Injectable()
class HandlerRuns {
  count = 0;
}

@Injectable()
class LoadingGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    await this.sessions.load(context.switchToHttp().getRequest());
    return true;
  }
}

@Controller()
class FailuresController {
  constructor(
    private readonly sessions: SessionService,
    private readonly runs: HandlerRuns,
  ) {}

  @Get('login')
  login(@Session() session: Session): { ok: true } {
    this.runs.count += 1;
    session.set('user', 'alice');
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    this.runs.count += 1;
    return { isNew: session.isNew, data: session.toJSON() };
  }

  @Get('update')
  update(@Session() session: Session): { ok: true } {
    this.runs.count += 1;
    session.set('theme', 'dark');
    return { ok: true };
  }

  @Get('clear')
  clear(@Session() session: Session): { ok: true } {
    session.clear();
    return { ok: true };
  }

  @Get('guarded')
  @UseGuards(LoadingGuard)
  guarded(): { ok: true } {
    this.runs.count += 1;
    return { ok: true };
  }

  @Get('res')
  res(@Session() session: Session, @Res() res: RawResponse): void {
    session.set('user', 'alice');
    sendJson(res, { ok: true });
  }

  @Get('regenerate')
  async regenerate(@Req() req: object): Promise<{ ok: true }> {
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('destroy')
  async destroy(@Req() req: object): Promise<{ ok: true }> {
    await this.sessions.destroy(req);
    return { ok: true };
  }
}

async function boot(options: Partial<SessionModuleOptions>): Promise<INestApplication> {
  return createApp({
    imports: [SessionModule.forRoot({ secretKey: SECRET, ...options })],
    controllers: [FailuresController],
    providers: [HandlerRuns],
  });
}

describe('failures', () => {
  let app: INestApplication | undefined;
  let errorSpy: jest.SpiedFunction<Logger['error']>;
  let warnSpy: jest.SpiedFunction<Logger['warn']>;

  beforeEach(() => {
    errorSpy = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    warnSpy = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
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

  const logged = (spy: jest.SpiedFunction<Logger['error']> | jest.SpiedFunction<Logger['warn']>) =>
    spy.mock.calls.map((args) => args.map(String).join(' ')).join('\n');

  describe('a backend that fails while loading', () => {
    it.each([
      ['read', false],
      ['readAndTouch', true],
    ] as const)(
      'answers 503 when %s rejects, and writes nothing for that request',
      async (method, rolling) => {
        const backend = instrument(new MemoryBackend());
        app = await boot({ backend, rolling });
        const cookie = cookieFrom(await get('/login').expect(200));
        backend.fail.add('read').add('readAndTouch');
        backend.resetCalls();
        app.get(HandlerRuns).count = 0;

        const res = await get('/update', cookie).expect(503);
        expect(res.body.statusCode).toBe(503);
        expect(backend.calls[method]).toBeGreaterThanOrEqual(1);
        expect(app.get(HandlerRuns).count).toBe(0);
        expect(backend.calls.write).toBe(0);
        expect(backend.calls.patch).toBe(0);
        expect(backend.calls.destroy).toBe(0);
        expect(backend.calls.touch).toBe(0);
        expect(backend.calls.move).toBe(0);
        expect(sessionSetCookie(res)).toBeUndefined();
        backend.fail.clear();
        await get('/read', cookie).expect(200, { isNew: false, data: { user: 'alice' } });
      },
    );

    it('answers 503 when a guard loads the session and the backend rejects', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.fail.add('read');
      app.get(HandlerRuns).count = 0;
      await get('/guarded', cookie).expect(503);
      expect(app.get(HandlerRuns).count).toBe(0);
    });

    it('does not call the backend, and answers 200, for a request without a cookie', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      backend.fail.add('read');
      await get('/read').expect(200, { isNew: true, data: {} });
      expect(backend.calls.read).toBe(0);
    });
  });

  describe('a backend that fails while saving', () => {
    it('answers 503, logs the error and sets no cookie when write rejects for a new session', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      backend.fail.add('write');
      const res = await get('/login').expect(503);
      expect(res.body.statusCode).toBe(503);
      expect(backend.calls.write).toBeGreaterThanOrEqual(1);
      expect(logged(errorSpy)).toContain('store down (write)');
      expect(sessionSetCookie(res)).toBeUndefined();
      expect(backend.size).toBe(0);
    });

    it('answers 503 and logs the error when saving a loaded session rejects', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.fail.add('write').add('patch');
      const res = await get('/update', cookie).expect(503);
      expect(res.body.statusCode).toBe(503);
      expect(backend.calls.write + backend.calls.patch).toBeGreaterThanOrEqual(2);
      expect(logged(errorSpy)).toMatch(/store down \((write|patch)\)/);
      backend.fail.clear();
      await get('/read', cookie).expect(200, { isNew: false, data: { user: 'alice' } });
    });

    it('answers 503 and logs the error when deleting an emptied session rejects', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.fail.add('destroy');
      await get('/clear', cookie).expect(503);
      expect(logged(errorSpy)).toContain('store down (destroy)');
    });

    it('answers 503 instead of the @Res() response when saving rejects', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      backend.fail.add('write');
      const res = await get('/res').expect(503);
      expect(res.body.statusCode).toBe(503);
      expect(sessionSetCookie(res)).toBeUndefined();
      expect(logged(errorSpy)).toContain('store down (write)');
    });

    it('answers 503 when regenerate cannot store the new record', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.fail.add('write').add('move');
      await get('/regenerate', cookie).expect(503);
      expect(logged(errorSpy)).toMatch(/store down \((write|move)\)/);
      backend.fail.clear();
      await get('/read', cookie).expect(200, { isNew: false, data: { user: 'alice' } });
    });

    it('answers 503 when destroy cannot delete the record', async () => {
      const backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      const cookie = cookieFrom(await get('/login').expect(200));
      backend.fail.add('destroy');
      await get('/destroy', cookie).expect(503);
      backend.fail.clear();
      await get('/read', cookie).expect(200, { isNew: false, data: { user: 'alice' } });
    });
  });

  describe('corrupt stored data', () => {
    const corrupt: [string, unknown][] = [
      ['a string', 'not a session'],
      ['a number', 42],
      ['an array', [1, 2, 3]],
      ['an object without the metadata', { user: 'mallory' }],
      ['an object with broken metadata', { user: 'mallory', __session: 'x' }],
      [
        'an object with metadata of the wrong types',
        { user: 'mallory', __session: { c: 'a', e: 'b' } },
      ],
    ];

    it.each(corrupt)(
      'treats %s as missing, logs a warning, removes it and never writes over it',
      async (_name, value) => {
        const backend = new MapBackend();
        app = await boot({ backend });
        const id = newId();
        backend.plant(storageKey(id), value);
        const cookie = `session=${signedValue(id)}`;

        await get('/read', cookie).expect(200, { isNew: true, data: {} });
        expect(warnSpy).toHaveBeenCalled();
        // Nothing unusable stays reachable by its cookie.
        expect(backend.has(storageKey(id))).toBe(false);

        const res = await get('/update', cookie).expect(200);
        const issued = idOf(sessionSetCookie(res)!.value);
        expect(issued).not.toBe(id);
        expect(backend.has(storageKey(id))).toBe(false);
        expect(backend.record(storageKey(issued))).toMatchObject({ theme: 'dark' });
      },
    );
  });
});
