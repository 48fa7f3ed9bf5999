import { Logger } from '@nestjs/common';
import { jest } from '@jest/globals';
import { MemoryBackend } from './backends/memory.backend.js';
import { SessionBackend } from './backends/session-backend.js';
import { SessionOptionsError } from './session.errors.js';
import { resolveSessionOptions, type SessionModuleOptions } from './session.options.js';

const SECRET = 's'.repeat(32);

function resolve(options: Partial<SessionModuleOptions> | Record<string, unknown>) {
  return resolveSessionOptions({ secretKey: SECRET, ...options } as SessionModuleOptions);
}

describe('resolveSessionOptions', () => {
  const env = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = env;
    jest.restoreAllMocks();
  });

  it('fills in the documented defaults', () => {
    const options = resolve({});
    expect(options).toMatchObject({
      secretKeys: [SECRET],
      maxAge: 1_209_600,
      rolling: false,
      absoluteTimeout: undefined,
      cookieName: 'session',
      cookieHttpsOnly: false,
      cookie: {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        domain: undefined,
        persistent: true,
        partitioned: false,
        priority: undefined,
      },
      touchAfter: 0,
      transport: { cookie: true, header: false },
      headerName: 'x-session-token',
      loadOnEveryRoute: false,
    });
    expect(options.backend).toBeInstanceOf(MemoryBackend);
  });

  it('keeps the given values', () => {
    const backend = new MemoryBackend();
    const options = resolve({
      secretKey: [SECRET, 'o'.repeat(40)],
      backend,
      maxAge: 60,
      rolling: true,
      absoluteTimeout: 3600,
      cookieName: 'sid',
      cookieHttpsOnly: true,
      cookie: {
        path: '/app',
        domain: 'example.com',
        httpOnly: false,
        sameSite: 'strict',
        persistent: false,
        partitioned: true,
        priority: 'high',
      },
      touchAfter: 59,
      transport: ['header', 'cookie'],
      headerName: 'X-Auth-Session',
      loadOnEveryRoute: true,
    });
    expect(options.backend).toBe(backend);
    expect(options.loadOnEveryRoute).toBe(true);
    expect(options.secretKeys).toEqual([SECRET, 'o'.repeat(40)]);
    expect(options.cookie).toEqual({
      path: '/app',
      domain: 'example.com',
      httpOnly: false,
      sameSite: 'strict',
      persistent: false,
      partitioned: true,
      priority: 'high',
    });
    expect(options).toMatchObject({
      touchAfter: 59,
      transport: { cookie: true, header: true },
      headerName: 'x-auth-session',
    });
    expect(resolve({ transport: 'header' }).transport).toEqual({ cookie: false, header: true });
  });

  it.each([
    ['missing secretKey', { secretKey: undefined }, /secretKey is missing/],
    ['empty secretKey', { secretKey: '' }, /secretKey is missing/],
    ['empty key list', { secretKey: [] }, /secretKey is missing/],
    ['a non-string key in the list', { secretKey: [SECRET, 42] }, /secretKey\[1\]/],
    ['maxAge 0', { maxAge: 0 }, /`maxAge`/],
    ['negative maxAge', { maxAge: -1 }, /`maxAge`/],
    ['maxAge as a string', { maxAge: '60' }, /`maxAge`/],
    ['infinite maxAge', { maxAge: Infinity }, /`maxAge`/],
    ['absoluteTimeout 0', { absoluteTimeout: 0 }, /`absoluteTimeout`/],
    ['rolling not a boolean', { rolling: 'yes' }, /`rolling`/],
    ['loadOnEveryRoute not a boolean', { loadOnEveryRoute: 'yes' }, /`loadOnEveryRoute`/],
    ['cookieHttpsOnly not a boolean', { cookieHttpsOnly: 1 }, /`cookieHttpsOnly`/],
    ['cookieName with a space', { cookieName: 'my session' }, /`cookieName`/],
    ['cookieName with ;', { cookieName: 'a;b' }, /`cookieName`/],
    ['unknown sameSite', { cookie: { sameSite: 'bogus' } }, /`cookie.sameSite`/],
    ['path with ;', { cookie: { path: '/; Secure' } }, /`cookie.path`/],
    ['relative path', { cookie: { path: 'app' } }, /`cookie.path`/],
    ['domain with ;', { cookie: { domain: 'a.com; x' } }, /`cookie.domain`/],
    ['httpOnly not a boolean', { cookie: { httpOnly: 'no' } }, /`cookie.httpOnly`/],
    ['a plain object as backend', { backend: {} }, /`backend`/],
    ['a class as backend', { backend: MemoryBackend }, /`backend`/],
    ['persistent not a boolean', { cookie: { persistent: 0 } }, /`cookie.persistent`/],
    ['partitioned not a boolean', { cookie: { partitioned: 'yes' } }, /`cookie.partitioned`/],
    [
      'partitioned without cookieHttpsOnly',
      { cookie: { partitioned: true } },
      /`cookie.partitioned`.*Secure.*set cookieHttpsOnly: true/,
    ],
    ['an unknown priority', { cookie: { priority: 'urgent' } }, /`cookie.priority`.*'low'/],
    ['an upper-case priority', { cookie: { priority: 'High' } }, /`cookie.priority`/],
    ['negative touchAfter', { rolling: true, touchAfter: -1 }, /`touchAfter`/],
    ['touchAfter as a string', { rolling: true, touchAfter: '60' }, /`touchAfter`/],
    ['infinite touchAfter', { rolling: true, touchAfter: NaN }, /`touchAfter`/],
    [
      'touchAfter equal to maxAge',
      { rolling: true, maxAge: 60, touchAfter: 60 },
      /`touchAfter`.*not below maxAge \(60\)/,
    ],
    [
      'touchAfter without rolling',
      { maxAge: 60, touchAfter: 10 },
      /`touchAfter`.*set rolling: true/,
    ],
    ['an unknown transport', { transport: 'query' }, /`transport`/],
    ['an empty transport list', { transport: [] }, /`transport`/],
    ['a transport list with a repeat', { transport: ['header', 'header'] }, /`transport`/],
    ['a transport that is no string', { transport: [1] }, /`transport`/],
    ['headerName with a space', { transport: 'header', headerName: 'x token' }, /`headerName`/],
    ['headerName empty', { transport: 'header', headerName: '' }, /`headerName`/],
    ['headerName Cookie', { transport: 'header', headerName: 'Cookie' }, /`headerName`.*"Cookie"/],
    [
      'headerName without the header transport',
      { headerName: 'x-token' },
      /`headerName`.*transport: 'header'/,
    ],
    ['maxAge over 400 days', { maxAge: 34_560_001 }, /`maxAge`.*400 days.*at most 34560000/],
    [
      "sameSite 'none' without cookieHttpsOnly",
      { cookie: { sameSite: 'none' } },
      /`cookie.sameSite`.*'none' needs cookieHttpsOnly: true/,
    ],
    [
      'a __Host- name without cookieHttpsOnly',
      { cookieName: '__Host-sid' },
      /`cookieName`.*"__Host-sid".*Secure.*set cookieHttpsOnly: true/,
    ],
    [
      'a __Host- name with a path other than /',
      { cookieName: '__Host-sid', cookieHttpsOnly: true, cookie: { path: '/app' } },
      /`cookie.path`.*__Host-.*Path=\/, not "\/app"/,
    ],
    [
      'a __Host- name with a domain',
      { cookieName: '__Host-sid', cookieHttpsOnly: true, cookie: { domain: 'example.com' } },
      /`cookie.domain`.*__Host-.*"example.com".*remove cookie.domain/,
    ],
    [
      'a __Secure- name without cookieHttpsOnly',
      { cookieName: '__Secure-sid' },
      /`cookieName`.*"__Secure-sid".*set cookieHttpsOnly: true/,
    ],
    [
      'a lower-case __host- name without cookieHttpsOnly',
      { cookieName: '__host-sid' },
      /`cookieName`.*prefix __host-/,
    ],
    [
      'a mixed-case __HOST- name with a domain',
      { cookieName: '__HOST-sid', cookieHttpsOnly: true, cookie: { domain: 'example.com' } },
      /`cookie.domain`/,
    ],
    [
      'an upper-case __SECURE- name without cookieHttpsOnly',
      { cookieName: '__SECURE-sid' },
      /`cookieName`.*prefix __SECURE-/,
    ],
  ])('fails at startup on %s, naming the option', (_name, options, message) => {
    expect(() => resolve(options)).toThrow(SessionOptionsError);
    expect(() => resolve(options)).toThrow(message);
  });

  it.each([
    'Location',
    'origin',
    'referer',
    'cache-control',
    'access-control-expose-headers',
    'proxy-authorization',
    'set-cookie',
    'host',
    'content-language',
    'transfer-encoding',
    'connection',
    'keep-alive',
    'upgrade',
    'te',
    'trailer',
    'sec-fetch-site',
  ])('refuses headerName %s, which already means something', (headerName) => {
    expect(() => resolve({ transport: 'header', headerName })).toThrow(SessionOptionsError);
    expect(() => resolve({ transport: 'header', headerName })).toThrow(/already means something/);
  });

  it.each(['x-session-token', 'x-content-id', 'session-origin'])(
    'accepts headerName %s, a header of its own',
    (headerName) => {
      expect(resolve({ transport: 'header', headerName }).headerName).toBe(headerName);
    },
  );

  it('accepts a maxAge of exactly 400 days, and a longer absoluteTimeout', () => {
    expect(resolve({ maxAge: 34_560_000, absoluteTimeout: 100_000_000 })).toMatchObject({
      maxAge: 34_560_000,
      absoluteTimeout: 100_000_000,
    });
  });

  it("accepts sameSite 'none' with cookieHttpsOnly, without a warning", () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    expect(resolve({ cookieHttpsOnly: true, cookie: { sameSite: 'none' } }).cookie.sameSite).toBe(
      'none',
    );
    expect(warn).not.toHaveBeenCalled();
  });

  it.each([
    ['__Host-sid', { cookieHttpsOnly: true }],
    ['__host-sid', { cookieHttpsOnly: true, cookie: { path: '/' } }],
    ['__Secure-sid', { cookieHttpsOnly: true, cookie: { path: '/app', domain: 'example.com' } }],
    ['__secure-sid', { cookieHttpsOnly: true }],
    ['_Host-sid', {}],
    ['Host-sid', {}],
    ['my__Host-sid', {}],
  ])('accepts the cookie name %s when its rules are met', (cookieName, options) => {
    expect(resolve({ cookieName, ...options }).cookieName).toBe(cookieName);
  });

  it('accepts a backend shaped like a SessionBackend from another copy of the package', () => {
    const foreign = {
      read: async () => null,
      write: async () => undefined,
      destroy: async () => undefined,
      clear: async () => undefined,
      touch: async () => undefined,
    };
    expect(resolve({ backend: foreign as unknown as SessionBackend }).backend).toBe(foreign);
  });

  it('refuses a short secret when NODE_ENV=production', () => {
    process.env.NODE_ENV = 'production';
    expect(() => resolve({ secretKey: 'short' })).toThrow(/at least 32/);
  });

  it('warns about a short secret outside production', () => {
    process.env.NODE_ENV = 'development';
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    expect(resolve({ secretKey: 'short' }).secretKeys).toEqual(['short']);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/5 characters long/));
  });

  describe('describe, maxSessionsPerUser and onLimit', () => {
    const withUser = { userKey: 'userId', backend: new MemoryBackend() };

    it('default to no description, no limit and evict-oldest', () => {
      expect(resolve(withUser)).toMatchObject({
        describe: undefined,
        maxSessionsPerUser: undefined,
        onLimit: 'evict-oldest',
      });
    });

    it('keep valid values', () => {
      const describe = () => ({ a: 1 });
      expect(
        resolve({ ...withUser, describe, maxSessionsPerUser: 3, onLimit: 'reject' }),
      ).toMatchObject({ describe, maxSessionsPerUser: 3, onLimit: 'reject' });
    });

    it.each([0, -1, 1.5, Number.NaN, Infinity, '2', null])(
      'refuses maxSessionsPerUser %p',
      (value) => {
        expect(() => resolve({ ...withUser, maxSessionsPerUser: value })).toThrow(
          /`maxSessionsPerUser`: expected a positive integer/,
        );
      },
    );

    it.each(['drop', '', 1])('refuses onLimit %p', (value) => {
      expect(() => resolve({ ...withUser, maxSessionsPerUser: 2, onLimit: value })).toThrow(
        /`onLimit`: expected 'evict-oldest' or 'reject'/,
      );
    });

    it.each(['ua', {}, null])('refuses a describe that is not a function (%p)', (value) => {
      expect(() => resolve({ ...withUser, describe: value })).toThrow(
        /`describe`: expected a function/,
      );
    });

    it.each([
      ['describe', { describe: () => ({}) }],
      ['maxSessionsPerUser', { maxSessionsPerUser: 2 }],
      ['onLimit', { onLimit: 'reject' }],
    ])('refuses %s without userKey', (name, options) => {
      expect(() => resolve(options)).toThrow(new RegExp(`\`${name}\` needs \`userKey\``));
    });

    it('refuses maxSessionsPerUser with a backend that cannot apply it', () => {
      const backend = new MemoryBackend();
      const indexOnly = Object.assign(Object.create(backend) as MemoryBackend, {
        indexAddLimited: undefined,
      });
      expect(() =>
        resolve({ userKey: 'userId', backend: indexOnly, maxSessionsPerUser: 2 }),
      ).toThrow(SessionOptionsError);
      expect(() =>
        resolve({ userKey: 'userId', backend: indexOnly, maxSessionsPerUser: 2 }),
      ).toThrow(/needs a backend that can apply it atomically/);
      expect(resolve({ userKey: 'userId', backend: indexOnly }).maxSessionsPerUser).toBeUndefined();
    });
  });
});
