import { Controller, Get, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionModule,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  hmac,
  idOf,
  newId,
  OLD_SECRET,
  SECRET,
  sessionSetCookie,
  signedValue,
  storageKey,
} from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

const NEW_SECRET = 'e2e-new-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const UNKNOWN_SECRET = 'e2e-unknown-secret-0123456789-abcdefghijklmnopqrstuvw';
const BASE64URL_43 = /^[A-Za-z0-9_-]{43}$/;

@Controller()
class CookieController {
  @Get('set')
  set(@Session() session: Session): { ok: true } {
    session.set('user', 'alice');
    return { ok: true };
  }

  @Get('probe')
  probe(@Session() session: Session): unknown {
    return { isNew: session.isNew, id: session.id, data: session.toJSON() };
  }

  @Get('clear')
  clear(@Session() session: Session): { ok: true } {
    session.clear();
    return { ok: true };
  }

  @Get('set-and-probe')
  setAndProbe(@Session() session: Session): unknown {
    const wasNew = session.isNew;
    session.set('user', 'bob');
    return { wasNew };
  }
}

async function boot(options: Partial<SessionModuleOptions> = {}): Promise<INestApplication> {
  return createApp({
    imports: [SessionModule.forRoot({ secretKey: SECRET, ...options })],
    controllers: [CookieController],
  });
}

describe('session cookie', () => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  describe('value', () => {
    it('is <id>.<signature>, two 43-character base64url parts', async () => {
      app = await boot();
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const cookie = sessionSetCookie(res)!;
      const [id, signature, ...rest] = cookie.value.split('.');
      expect(rest).toEqual([]);
      expect(id).toMatch(BASE64URL_43);
      expect(signature).toMatch(BASE64URL_43);
    });

    it('is signed with HMAC-SHA256 of the id under the secret', async () => {
      app = await boot();
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const [id, signature] = sessionSetCookie(res)!.value.split('.');
      expect(signature).toBe(hmac(id, SECRET));
    });

    it('carries a different random id for every new session', async () => {
      app = await boot();
      const ids = new Set<string>();
      for (let i = 0; i < 5; i += 1) {
        const res = await request(app.getHttpServer()).get('/set').expect(200);
        ids.add(idOf(sessionSetCookie(res)!.value));
      }
      expect(ids.size).toBe(5);
    });

    it('is the id the session reports, and the backend only sees its SHA-256 storage key', async () => {
      const backend = new MapBackend();
      app = await boot({ backend });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const id = idOf(sessionSetCookie(res)!.value);
      const probe = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookieFrom(res))
        .expect(200);
      expect(probe.body.id).toBe(id);
      expect(backend.keys()).toEqual([storageKey(id)]);
      expect(backend.dump()).not.toContain(id);
    });
  });

  describe('attributes', () => {
    it('defaults to HttpOnly, SameSite=Lax, Path=/, a 14-day Max-Age and a matching Expires', async () => {
      app = await boot();
      const before = Date.now();
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const { attributes } = sessionSetCookie(res)!;
      expect(attributes.httponly).toBe(true);
      expect(attributes.samesite).toBe('Lax');
      expect(attributes.path).toBe('/');
      expect(attributes['max-age']).toBe('1209600');
      const expires = Date.parse(attributes.expires as string);
      expect(expires).toBeGreaterThanOrEqual(
        Math.floor(before / 1000) * 1000 + 1209600 * 1000 - 1000,
      );
      expect(expires).toBeLessThanOrEqual(Date.now() + 1209600 * 1000 + 1000);
      expect(attributes.secure).toBeUndefined();
      expect(attributes.domain).toBeUndefined();
    });

    it('uses maxAge for Max-Age and Expires', async () => {
      app = await boot({ maxAge: 3600 });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const { attributes } = sessionSetCookie(res)!;
      expect(attributes['max-age']).toBe('3600');
      const expires = Date.parse(attributes.expires as string);
      expect(Math.abs(expires - (Date.now() + 3600 * 1000))).toBeLessThan(3000);
    });

    it('adds Secure only with cookieHttpsOnly', async () => {
      app = await boot({ cookieHttpsOnly: true });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      expect(sessionSetCookie(res)!.attributes.secure).toBe(true);
    });

    it('adds Domain when set', async () => {
      app = await boot({ cookie: { domain: 'example.com' } });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      expect(sessionSetCookie(res)!.attributes.domain).toBe('example.com');
    });

    it('uses a custom cookieName for both setting and reading the cookie', async () => {
      app = await boot({ cookieName: 'sid' });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      expect(sessionSetCookie(res)).toBeUndefined();
      const cookie = cookieFrom(res, 'sid');
      const probe = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookie)
        .expect(200);
      expect(probe.body.data).toEqual({ user: 'alice' });
      const ignored = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookie.replace(/^sid=/, 'session='))
        .expect(200);
      expect(ignored.body).toEqual({ isNew: true, id: '', data: {} });
    });

    it("writes SameSite=Strict for sameSite: 'strict'", async () => {
      app = await boot({ cookie: { sameSite: 'strict' } });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      expect(sessionSetCookie(res)!.attributes.samesite).toBe('Strict');
    });

    it('uses a custom path and drops HttpOnly when httpOnly is false', async () => {
      app = await boot({ cookie: { path: '/app', httpOnly: false } });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const { attributes } = sessionSetCookie(res)!;
      expect(attributes.path).toBe('/app');
      expect(attributes.httponly).toBeUndefined();
    });
    it('clears the cookie with the same Path and Domain it was set with, so browsers drop it', async () => {
      app = await boot({ cookie: { path: '/', domain: 'example.com' }, cookieHttpsOnly: true });
      const login = await request(app.getHttpServer()).get('/set').expect(200);
      const res = await request(app.getHttpServer())
        .get('/clear')
        .set('Cookie', cookieFrom(login))
        .expect(200);
      const cleared = sessionSetCookie(res)!;
      expect(cleared.value).toBe('');
      expect(cleared.attributes).toMatchObject({
        'max-age': '0',
        path: '/',
        domain: 'example.com',
        secure: true,
      });
    });
  });

  describe('key rotation', () => {
    it('accepts a cookie signed by an older key and re-issues it signed by the first key', async () => {
      const backend = new MemoryBackend();
      const before = await boot({ secretKey: OLD_SECRET, backend });
      const login = await request(before.getHttpServer()).get('/set').expect(200);
      await before.close();
      const oldValue = sessionSetCookie(login)!.value;
      const id = idOf(oldValue);
      expect(oldValue).toBe(signedValue(id, OLD_SECRET));

      app = await boot({ secretKey: [NEW_SECRET, OLD_SECRET], backend });
      const res = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', `session=${oldValue}`)
        .expect(200);
      expect(res.body.data).toEqual({ user: 'alice' });
      expect(res.body.id).toBe(id);
      expect(sessionSetCookie(res)?.value).toBe(signedValue(id, NEW_SECRET));

      const again = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookieFrom(res))
        .expect(200);
      expect(again.body.data).toEqual({ user: 'alice' });
    });

    it('signs new sessions with the first key', async () => {
      app = await boot({ secretKey: [NEW_SECRET, OLD_SECRET] });
      const res = await request(app.getHttpServer()).get('/set').expect(200);
      const value = sessionSetCookie(res)!.value;
      expect(value).toBe(signedValue(idOf(value), NEW_SECRET));
    });

    it('ignores a cookie signed by a key that is not in the list, without asking the backend', async () => {
      const backend = instrument(new MemoryBackend());
      const other = await boot({ secretKey: UNKNOWN_SECRET, backend });
      const login = await request(other.getHttpServer()).get('/set').expect(200);
      await other.close();
      backend.resetCalls();

      app = await boot({ secretKey: [NEW_SECRET, OLD_SECRET], backend });
      const res = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookieFrom(login))
        .expect(200);
      expect(res.body).toEqual({ isNew: true, id: '', data: {} });
      expect(backend.total).toBe(0);
      expect(sessionSetCookie(res)).toBeUndefined();
    });
  });

  describe('bad cookies', () => {
    let backend: Instrumented<MemoryBackend>;
    let validA: string;
    let validB: string;

    beforeEach(async () => {
      backend = instrument(new MemoryBackend());
      app = await boot({ backend });
      validA = sessionSetCookie(await request(app.getHttpServer()).get('/set').expect(200))!.value;
      validB = sessionSetCookie(await request(app.getHttpServer()).get('/set').expect(200))!.value;
      backend.resetCalls();
    });

    const id = 'A'.repeat(43);
    const cases: [string, () => string][] = [
      ['a missing cookie', () => ''],
      ['an empty cookie', () => 'session='],
      ['a cookie without a dot', () => `session=${validA.replace('.', '')}`],
      [
        'a cookie with a short id',
        () => `session=${idOf(validA).slice(1)}.${hmac(idOf(validA).slice(1), SECRET)}`,
      ],
      [
        'a cookie with a long id',
        () => `session=${idOf(validA)}x.${hmac(`${idOf(validA)}x`, SECRET)}`,
      ],
      ['a cookie with a short signature', () => `session=${validA.slice(0, -1)}`],
      [
        'a cookie with characters outside base64url',
        () => `session=${'+'.repeat(43)}.${hmac('+'.repeat(43), SECRET)}`,
      ],
      ['a cookie with trailing padding', () => `session=${validA}=`],
      ['a cookie with three parts', () => `session=${validA}.${hmac(id, SECRET)}`],
      [
        'an oversized cookie',
        () => `session=${'A'.repeat(8000)}.${hmac('A'.repeat(8000), SECRET)}`,
      ],
      [
        'a badly signed cookie',
        () => `session=${idOf(validA)}.${hmac(idOf(validA), UNKNOWN_SECRET)}`,
      ],
      [
        'a cookie with the signature of another id',
        () => `session=${idOf(validA)}.${validB.split('.')[1]}`,
      ],
      ['a duplicated cookie, both copies valid', () => `session=${validA}; session=${validB}`],
      ['a duplicated cookie, the same value twice', () => `session=${validA}; session=${validA}`],
    ];

    it.each(cases)(
      'treats %s as no session, without a backend call or an error',
      async (_name, cookie) => {
        const header = cookie();
        const req = request(app!.getHttpServer()).get('/probe');
        if (header) req.set('Cookie', header);
        const res = await req.expect(200);
        expect(res.body).toEqual({ isNew: true, id: '', data: {} });
        expect(backend.total).toBe(0);
        expect(sessionSetCookie(res)).toBeUndefined();
      },
    );

    it('starts a fresh session with a new id when a handler writes after a bad cookie', async () => {
      const res = await request(app!.getHttpServer())
        .get('/set-and-probe')
        .set('Cookie', `session=${validA}; session=${validB}`)
        .expect(200);
      expect(res.body).toEqual({ wasNew: true });
      const id = idOf(sessionSetCookie(res)!.value);
      expect([idOf(validA), idOf(validB)]).not.toContain(id);
      expect(backend.calls.read).toBe(0);
    });

    it('does not read a cookie whose name only contains the session cookie name', async () => {
      const res = await request(app!.getHttpServer())
        .get('/probe')
        .set('Cookie', `mysession=${validA}; session_old=${validB}`)
        .expect(200);
      expect(res.body).toEqual({ isNew: true, id: '', data: {} });
      expect(backend.total).toBe(0);
    });

    it('reads the session cookie among other cookies', async () => {
      const res = await request(app!.getHttpServer())
        .get('/probe')
        .set('Cookie', `theme=dark; session=${validA}; other=1`)
        .expect(200);
      expect(res.body).toMatchObject({ isNew: false, data: { user: 'alice' } });
    });
  });

  describe('ids are never adopted', () => {
    it('starts a new session with a NEW id for a validly signed id that has no record', async () => {
      const backend = new MemoryBackend();
      app = await boot({ backend });
      const planted = newId();
      const cookie = `session=${signedValue(planted)}`;

      const probe = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookie)
        .expect(200);
      expect(probe.body).toEqual({ isNew: true, id: '', data: {} });

      const res = await request(app.getHttpServer())
        .get('/set-and-probe')
        .set('Cookie', cookie)
        .expect(200);
      expect(res.body).toEqual({ wasNew: true });
      const issued = idOf(sessionSetCookie(res)!.value);
      expect(issued).not.toBe(planted);
      expect(issued).toMatch(BASE64URL_43);
      expect(await backend.read(storageKey(planted))).toBeNull();
      expect(await backend.read(storageKey(issued))).toMatchObject({ user: 'bob' });

      // The planted cookie still leads nowhere.
      const after = await request(app.getHttpServer())
        .get('/probe')
        .set('Cookie', cookie)
        .expect(200);
      expect(after.body).toEqual({ isNew: true, id: '', data: {} });
    });

    it('does not bring back a destroyed session id', async () => {
      const backend = new MemoryBackend();
      app = await boot({ backend });
      const login = await request(app.getHttpServer()).get('/set').expect(200);
      const oldId = idOf(sessionSetCookie(login)!.value);
      await backend.clear();
      const res = await request(app.getHttpServer())
        .get('/set-and-probe')
        .set('Cookie', cookieFrom(login))
        .expect(200);
      expect(res.body).toEqual({ wasNew: true });
      expect(idOf(sessionSetCookie(res)!.value)).not.toBe(oldId);
    });
  });
});
