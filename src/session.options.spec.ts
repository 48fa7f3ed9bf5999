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
      cookie: { path: '/', httpOnly: true, sameSite: 'lax', domain: undefined },
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
      cookie: { path: '/app', domain: 'example.com', httpOnly: false, sameSite: 'strict' },
    });
    expect(options.backend).toBe(backend);
    expect(options.secretKeys).toEqual([SECRET, 'o'.repeat(40)]);
    expect(options.cookie).toEqual({
      path: '/app',
      domain: 'example.com',
      httpOnly: false,
      sameSite: 'strict',
    });
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
  ])('fails at startup on %s, naming the option', (_name, options, message) => {
    expect(() => resolve(options)).toThrow(SessionOptionsError);
    expect(() => resolve(options)).toThrow(message);
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
});
