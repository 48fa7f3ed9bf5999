import { jest } from '@jest/globals';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  Logger,
  Module,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  MemoryBackend,
  SESSION_BACKEND,
  SESSION_OPTIONS,
  Session,
  SessionBackend,
  SessionModule,
  SessionOptionsError,
  SessionService,
  type ResolvedSessionOptions,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { MapBackend } from '../support/map-backend.js';
import { cookieFrom, hmac, idOf, SECRET, sessionSetCookie } from '../support/fixtures/http.js';

const CONFIG_SECRET = 'secret-from-config-0123456789-abcdefghijklmnopqrstuv';
const SESSION_SECRET = Symbol('SESSION_SECRET');

@Controller()
class CounterController {
  @Get('count')
  count(@Session() session: Session): { count: number } {
    const count = (session.get('count', 0) as number) + 1;
    session.set('count', count);
    return { count };
  }
}

@Module({
  providers: [{ provide: SESSION_SECRET, useValue: CONFIG_SECRET }],
  exports: [SESSION_SECRET],
})
class ConfigModule {}

@Injectable()
class SessionConfig {
  create(): SessionModuleOptions {
    return { secretKey: CONFIG_SECRET, cookieName: 'from-class', maxAge: 120 };
  }
}

@Module({ providers: [SessionConfig], exports: [SessionConfig] })
class SessionConfigModule {}

/** Reaches the session module's exports from a module that does not import it. */
@Injectable()
class FeatureService {
  constructor(
    readonly sessions: SessionService,
    @Inject(SESSION_BACKEND) readonly backend: SessionBackend,
    @Inject(SESSION_OPTIONS) readonly options: ResolvedSessionOptions,
  ) {}
}

@Module({ providers: [FeatureService], exports: [FeatureService] })
class FeatureModule {}

async function counts(app: INestApplication, cookieName = 'session'): Promise<void> {
  const first = await request(app.getHttpServer()).get('/count').expect(200, { count: 1 });
  await request(app.getHttpServer())
    .get('/count')
    .set('Cookie', cookieFrom(first, cookieName))
    .expect(200, { count: 2 });
}

describe('SessionModule', () => {
  let app: INestApplication | undefined;
  const nodeEnv = process.env.NODE_ENV;

  afterEach(async () => {
    await app?.close();
    app = undefined;
    process.env.NODE_ENV = nodeEnv;
    jest.restoreAllMocks();
  });

  describe('forRoot', () => {
    it('provides working sessions', async () => {
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET })],
        controllers: [CounterController],
      });
      await counts(app);
    });

    it('injects the configured backend instance as SESSION_BACKEND', async () => {
      const backend = new MapBackend();
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
        controllers: [CounterController],
      });
      expect(app.get(SESSION_BACKEND)).toBe(backend);
      await counts(app);
      expect(backend.size).toBe(1);
    });

    it('builds the options from an app provider registered under the SessionBackend class', async () => {
      const backend = new MapBackend();
      @Module({
        providers: [{ provide: SessionBackend, useValue: backend }],
        exports: [SessionBackend],
      })
      class BackendModule {}
      app = await createApp({
        imports: [
          SessionModule.forRootAsync({
            imports: [BackendModule],
            inject: [SessionBackend],
            useFactory: (injected: SessionBackend) => ({ secretKey: SECRET, backend: injected }),
          }),
        ],
        controllers: [CounterController],
      });
      expect(app.get(SESSION_BACKEND)).toBe(backend);
      await counts(app);
    });

    it('injects the same backend through the SessionBackend class as a token', async () => {
      const backend = new MapBackend();
      @Injectable()
      class UsesBackend {
        constructor(readonly backend: SessionBackend) {}
      }
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET, backend, isGlobal: true })],
        providers: [UsesBackend],
      });
      expect(app.get(UsesBackend).backend).toBe(backend);
      expect(app.get(SessionBackend)).toBe(backend);
    });

    it('uses a MemoryBackend by default', async () => {
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET })],
        controllers: [CounterController],
      });
      const backend = app.get<MemoryBackend>(SESSION_BACKEND);
      expect(backend).toBeInstanceOf(MemoryBackend);
      await counts(app);
      expect(backend.size).toBe(1);
    });

    it('injects the resolved options, defaults merged, as SESSION_OPTIONS', async () => {
      app = await createApp({ imports: [SessionModule.forRoot({ secretKey: SECRET })] });
      const options = app.get<ResolvedSessionOptions>(SESSION_OPTIONS);
      expect(options).toMatchObject({
        maxAge: 1209600,
        rolling: false,
        cookieName: 'session',
        cookieHttpsOnly: false,
        cookie: { path: '/', httpOnly: true, sameSite: 'lax' },
      });
      expect(options.absoluteTimeout).toBeUndefined();
      expect(options.cookie.domain).toBeUndefined();
      expect(options.backend).toBe(app.get(SESSION_BACKEND));
    });

    it('keeps the given values in SESSION_OPTIONS, merging partial cookie options with the defaults', async () => {
      app = await createApp({
        imports: [
          SessionModule.forRoot({
            secretKey: SECRET,
            maxAge: 60,
            rolling: true,
            absoluteTimeout: 600,
            cookieName: 'sid',
            cookieHttpsOnly: true,
            cookie: { domain: 'example.com' },
          }),
        ],
      });
      expect(app.get(SESSION_OPTIONS)).toMatchObject({
        maxAge: 60,
        rolling: true,
        absoluteTimeout: 600,
        cookieName: 'sid',
        cookieHttpsOnly: true,
        cookie: { path: '/', httpOnly: true, sameSite: 'lax', domain: 'example.com' },
      });
    });
  });

  describe('cookie options that browsers require', () => {
    it('sets a __Host- cookie with Secure and Path=/, without Domain', async () => {
      app = await createApp({
        imports: [
          SessionModule.forRoot({
            secretKey: SECRET,
            cookieName: '__Host-sid',
            cookieHttpsOnly: true,
            maxAge: 34_560_000,
          }),
        ],
        controllers: [CounterController],
      });
      const res = await request(app.getHttpServer()).get('/count').expect(200);
      const cookie = sessionSetCookie(res, '__Host-sid')!;
      expect(cookie.attributes).toMatchObject({ secure: true, path: '/', 'max-age': '34560000' });
      expect(cookie.attributes).not.toHaveProperty('domain');
    });

    it('sets SameSite=None with Secure, and logs no warning', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      app = await createApp({
        imports: [
          SessionModule.forRoot({
            secretKey: SECRET,
            cookieHttpsOnly: true,
            cookie: { sameSite: 'none' },
          }),
        ],
        controllers: [CounterController],
      });
      const res = await request(app.getHttpServer()).get('/count').expect(200);
      expect(sessionSetCookie(res)!.attributes).toMatchObject({ secure: true, samesite: 'None' });
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('forRootAsync', () => {
    it('builds the options with useFactory from a provider of an imported module', async () => {
      app = await createApp({
        imports: [
          SessionModule.forRootAsync({
            imports: [ConfigModule],
            inject: [SESSION_SECRET],
            useFactory: (secret: string) => ({ secretKey: secret, maxAge: 90 }),
          }),
        ],
        controllers: [CounterController],
      });
      const res = await request(app.getHttpServer()).get('/count').expect(200);
      const value = sessionSetCookie(res)!.value;
      expect(value.split('.')[1]).toBe(hmac(idOf(value), CONFIG_SECRET));
      expect(sessionSetCookie(res)!.attributes['max-age']).toBe('90');
      await request(app.getHttpServer())
        .get('/count')
        .set('Cookie', cookieFrom(res))
        .expect(200, { count: 2 });
    });

    it('accepts an async factory', async () => {
      app = await createApp({
        imports: [
          SessionModule.forRootAsync({
            useFactory: async () => ({ secretKey: SECRET, cookieName: 'async' }),
          }),
        ],
        controllers: [CounterController],
      });
      await counts(app, 'async');
    });

    it('builds the options with useClass', async () => {
      app = await createApp({
        imports: [SessionModule.forRootAsync({ useClass: SessionConfig })],
        controllers: [CounterController],
      });
      await counts(app, 'from-class');
      expect(app.get(SESSION_OPTIONS)).toMatchObject({ maxAge: 120, cookieName: 'from-class' });
    });

    it('builds the options with useExisting from an imported module', async () => {
      app = await createApp({
        imports: [
          SessionModule.forRootAsync({
            imports: [SessionConfigModule],
            useExisting: SessionConfig,
          }),
        ],
        controllers: [CounterController],
      });
      await counts(app, 'from-class');
    });

    it('injects the backend the factory returned as SESSION_BACKEND', async () => {
      const backend = new MapBackend();
      app = await createApp({
        imports: [
          SessionModule.forRootAsync({ useFactory: () => ({ secretKey: SECRET, backend }) }),
        ],
        controllers: [CounterController],
      });
      expect(app.get(SESSION_BACKEND)).toBe(backend);
      await counts(app);
      expect(backend.size).toBe(1);
    });

    it('validates the options a factory returns at startup', async () => {
      await expect(
        Test.createTestingModule({
          imports: [
            SessionModule.forRootAsync({ useFactory: () => ({ secretKey: SECRET, maxAge: 0 }) }),
          ],
        }).compile(),
      ).rejects.toThrow(/maxAge/);
    });
  });

  describe('isGlobal', () => {
    it('makes SessionService, SESSION_BACKEND and SESSION_OPTIONS injectable in modules that do not import it', async () => {
      const backend = new MapBackend();
      app = await createApp({
        imports: [
          SessionModule.forRoot({ secretKey: SECRET, backend, isGlobal: true }),
          FeatureModule,
        ],
        controllers: [CounterController],
      });
      const feature = app.get(FeatureService);
      expect(feature.sessions).toBeInstanceOf(SessionService);
      expect(feature.backend).toBe(backend);
      expect(feature.options.backend).toBe(backend);
    });

    it('works with forRootAsync', async () => {
      app = await createApp({
        imports: [
          SessionModule.forRootAsync({ isGlobal: true, useFactory: () => ({ secretKey: SECRET }) }),
          FeatureModule,
        ],
      });
      expect(app.get(FeatureService).sessions).toBeInstanceOf(SessionService);
    });

    it('is off by default: other modules cannot inject the session providers', async () => {
      await expect(
        Test.createTestingModule({
          imports: [SessionModule.forRoot({ secretKey: SECRET }), FeatureModule],
        }).compile(),
      ).rejects.toThrow(/FeatureService/);
    });

    it('does not leak isGlobal into SESSION_OPTIONS', async () => {
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: SECRET, isGlobal: true })],
      });
      expect(app.get(SESSION_OPTIONS)).not.toHaveProperty('isGlobal');
    });
  });

  describe('invalid options fail at startup with an error naming the option', () => {
    const compile = (options: unknown) =>
      Test.createTestingModule({
        imports: [SessionModule.forRoot(options as SessionModuleOptions)],
      }).compile();

    it.each([
      ['a missing secretKey', {}, /secretKey/],
      ['an empty secretKey', { secretKey: '' }, /secretKey/],
      ['an empty secretKey array', { secretKey: [] }, /secretKey/],
      ['a secretKey array with an empty key', { secretKey: [SECRET, ''] }, /secretKey/],
      ['maxAge: 0', { secretKey: SECRET, maxAge: 0 }, /maxAge/],
      ['maxAge: -1', { secretKey: SECRET, maxAge: -1 }, /maxAge/],
      ['maxAge: NaN', { secretKey: SECRET, maxAge: Number.NaN }, /maxAge/],
      ["maxAge: '60'", { secretKey: SECRET, maxAge: '60' }, /maxAge/],
      ['absoluteTimeout: 0', { secretKey: SECRET, absoluteTimeout: 0 }, /absoluteTimeout/],
      [
        "cookie.sameSite: 'bogus'",
        { secretKey: SECRET, cookie: { sameSite: 'bogus' } },
        /sameSite/,
      ],
      ['backend: {}', { secretKey: SECRET, backend: {} }, /backend/],
      ["backend: 'memory'", { secretKey: SECRET, backend: 'memory' }, /backend/],
      ['a cookieName with a space', { secretKey: SECRET, cookieName: 'my session' }, /cookieName/],
      [
        'a cookie.domain that smuggles an attribute',
        { secretKey: SECRET, cookie: { domain: 'a.com; Secure' } },
        /domain/,
      ],
      ['maxAge over 400 days', { secretKey: SECRET, maxAge: 34_560_001 }, /maxAge.*400 days/],
      [
        "sameSite: 'none' without cookieHttpsOnly",
        { secretKey: SECRET, cookie: { sameSite: 'none' } },
        /cookie.sameSite.*cookieHttpsOnly/,
      ],
      [
        'a __Host- cookieName without cookieHttpsOnly',
        { secretKey: SECRET, cookieName: '__Host-sid' },
        /cookieName.*__Host-sid.*cookieHttpsOnly/,
      ],
      [
        'a __Host- cookieName with a cookie.path other than /',
        {
          secretKey: SECRET,
          cookieName: '__Host-sid',
          cookieHttpsOnly: true,
          cookie: { path: '/a' },
        },
        /cookie.path.*__Host-sid/,
      ],
      [
        'a __host- cookieName (any case) with a cookie.domain',
        {
          secretKey: SECRET,
          cookieName: '__host-sid',
          cookieHttpsOnly: true,
          cookie: { domain: 'example.com' },
        },
        /cookie.domain.*__host-sid/,
      ],
      [
        'a __Secure- cookieName without cookieHttpsOnly',
        { secretKey: SECRET, cookieName: '__SECURE-sid' },
        /cookieName.*__SECURE-sid.*cookieHttpsOnly/,
      ],
    ])('%s', async (_name, options, pattern) => {
      const failure = await compile(options).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SessionOptionsError);
      expect((failure as Error).message).toMatch(pattern);
    });

    it('fails in forRootAsync too, when the factory returns a broken cookie prefix', async () => {
      await expect(
        Test.createTestingModule({
          imports: [
            SessionModule.forRootAsync({
              useFactory: () => ({ secretKey: SECRET, cookieName: '__Secure-sid' }),
            }),
          ],
        }).compile(),
      ).rejects.toThrow(SessionOptionsError);
    });

    it('refuses a secretKey shorter than 32 characters when NODE_ENV=production', async () => {
      process.env.NODE_ENV = 'production';
      await expect(compile({ secretKey: 'short' })).rejects.toThrow(/secretKey/);
      await expect(compile({ secretKey: [SECRET, 'short'] })).rejects.toThrow(/secretKey/);
    });

    it('only warns about a secretKey shorter than 32 characters otherwise, and works', async () => {
      process.env.NODE_ENV = 'development';
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      app = await createApp({
        imports: [SessionModule.forRoot({ secretKey: 'short' })],
        controllers: [CounterController],
      });
      expect(warn.mock.calls.map((args) => String(args[0])).join('\n')).toMatch(/secretKey/);
      await counts(app);
    });

    it('does not warn about a secretKey of 32 characters or more', async () => {
      process.env.NODE_ENV = 'development';
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      app = await createApp({ imports: [SessionModule.forRoot({ secretKey: 'x'.repeat(32) })] });
      expect(warn.mock.calls.map((args) => String(args[0])).join('\n')).not.toMatch(/secretKey/);
    });
  });
});
