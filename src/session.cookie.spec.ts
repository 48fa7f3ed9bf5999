import { randomBytes, randomInt } from 'node:crypto';
import { readCookie, serializeCookie } from './session.cookie.js';
import { resolveSessionOptions } from './session.options.js';

const VALUE = `${'a'.repeat(43)}.${'b'.repeat(43)}`;

describe('readCookie', () => {
  it.each([
    ['the only cookie', `session=${VALUE}`],
    ['among others', `theme=dark; session=${VALUE}; lang=en`],
    ['without spaces', `theme=dark;session=${VALUE}`],
    ['quoted', `session="${VALUE}"`],
    ['next to a similar name', `mysession=x; session=${VALUE}; session2=y`],
  ])('finds the session cookie: %s', (_name, header) => {
    expect(readCookie(header, 'session')).toBe(VALUE);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['other cookies only', 'theme=dark; lang=en'],
    ['a duplicated cookie', `session=${VALUE}; session=${VALUE}`],
    ['a duplicated cookie with different values', `session=${VALUE}; other=1; session=x`],
    ['an oversized header', `pad=${'x'.repeat(20_000)}; session=${VALUE}`],
  ])('finds nothing for %s', (_name, header) => {
    expect(readCookie(header, 'session')).toBeUndefined();
  });

  it('reads headers that arrive as an array', () => {
    expect(readCookie(['a=1', `session=${VALUE}`], 'session')).toBe(VALUE);
  });

  it('never throws and never returns something that was not in the header (fuzz)', () => {
    const alphabet = 'session=;" ,.=\t\\%a-_';
    for (let i = 0; i < 20_000; i += 1) {
      const header =
        i % 2 === 0
          ? Array.from(
              { length: randomInt(0, 80) },
              () => alphabet[randomInt(alphabet.length)],
            ).join('')
          : randomBytes(randomInt(0, 120)).toString('latin1');
      const found = readCookie(header, 'session');
      if (found !== undefined) expect(header).toContain(found);
    }
  });
});

describe('serializeCookie', () => {
  const now = Date.UTC(2026, 0, 1);

  it('writes the attributes the SPEC lists, with the defaults', () => {
    const options = resolveSessionOptions({ secretKey: 's'.repeat(32) });
    expect(serializeCookie(options, VALUE, 60, now)).toBe(
      `session=${VALUE}; Max-Age=60; Expires=Thu, 01 Jan 2026 00:01:00 GMT; Path=/; HttpOnly; SameSite=Lax`,
    );
  });

  it('adds Domain and Secure, and honours the other cookie options', () => {
    const options = resolveSessionOptions({
      secretKey: 's'.repeat(32),
      cookieName: 'sid',
      cookieHttpsOnly: true,
      cookie: { path: '/app', domain: 'example.com', httpOnly: false, sameSite: 'strict' },
    });
    expect(serializeCookie(options, VALUE, 60, now)).toBe(
      `sid=${VALUE}; Max-Age=60; Expires=Thu, 01 Jan 2026 00:01:00 GMT; Path=/app; Domain=example.com; Secure; SameSite=Strict`,
    );
  });

  it('clears a cookie with Max-Age=0 and an expiry in the past', () => {
    const options = resolveSessionOptions({ secretKey: 's'.repeat(32) });
    expect(serializeCookie(options, '', 0, now)).toBe(
      'session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax',
    );
  });

  it('leaves out Max-Age and Expires for a browser-session cookie, but not when clearing it', () => {
    const options = resolveSessionOptions({
      secretKey: 's'.repeat(32),
      cookie: { persistent: false },
    });
    expect(serializeCookie(options, VALUE, 60, now)).toBe(
      `session=${VALUE}; Path=/; HttpOnly; SameSite=Lax`,
    );
    expect(serializeCookie(options, VALUE, 60, now, true)).toContain('; Max-Age=60;');
    expect(serializeCookie(options, '', 0, now)).toContain('; Max-Age=0;');
  });

  it('adds Partitioned and Priority last', () => {
    const options = resolveSessionOptions({
      secretKey: 's'.repeat(32),
      cookieHttpsOnly: true,
      cookie: { partitioned: true, priority: 'low' },
    });
    expect(serializeCookie(options, VALUE, 60, now)).toMatch(
      /; Secure; SameSite=Lax; Partitioned; Priority=Low$/,
    );
  });
});
