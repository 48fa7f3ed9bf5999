import { Controller, Get, Query, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { MemoryBackend, Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie } from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';

type Legacy = Session & Record<string, any>;
type Req = { session: Legacy };

let backend: Instrumented<MemoryBackend>;

function call(method: (cb: (error?: unknown) => void) => unknown): Promise<string | null> {
  return new Promise((resolve) => {
    method((error) => resolve(error ? (error as Error).message : null));
  });
}

@Controller()
class LegacyController {
  constructor(private readonly sessions: SessionService) {}

  @Get('seed')
  seed(@Session() session: Legacy): unknown {
    session.profile = { name: 'ann', tags: ['a'] };
    session.count = 1;
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Legacy): unknown {
    return {
      profile: session.get('profile') ?? null,
      count: session.get('count') ?? null,
      keys: Object.keys(session),
      hasCount: 'count' in session,
    };
  }

  @Get('rename')
  rename(@Session() session: Legacy, @Query('to') to: string): unknown {
    session.profile.name = to;
    return { ok: true };
  }

  @Get('tag')
  tag(@Session() session: Legacy, @Query('t') t: string): unknown {
    session.profile.tags.push(t);
    return { ok: true };
  }

  @Get('peek')
  peek(@Session() session: Legacy): unknown {
    return { name: session.profile.name };
  }

  @Get('drop')
  drop(@Session() session: Legacy): unknown {
    delete session.count;
    return { ok: true };
  }

  @Get('regenerate')
  async regenerate(@Session() session: Legacy, @Req() req: Req): Promise<unknown> {
    const error = await call((cb) => session.regenerate(cb));
    req.session.after = true;
    return { error, replaced: req.session !== session, keys: Object.keys(req.session) };
  }

  @Get('service-regenerate')
  async serviceRegenerate(@Req() req: Req): Promise<unknown> {
    const session = await this.sessions.regenerate(req);
    return { keys: session.keys().sort() };
  }

  @Get('save')
  async save(@Session() session: Legacy): Promise<unknown> {
    session.count = 2;
    const before = backend.writes;
    const error = await call((cb) => session.save(cb));
    return { error, wrote: backend.writes - before };
  }

  @Get('destroy')
  async destroy(@Session() session: Legacy): Promise<unknown> {
    const error = await call((cb) => session.destroy(cb));
    return { error, keys: Object.keys(session) };
  }

  @Get('reload')
  async reload(@Session() session: Legacy): Promise<unknown> {
    session.count = 99;
    const error = await call((cb) => session.reload(cb));
    return { error, count: session.count ?? null };
  }

  @Get('cookie')
  cookie(@Session() session: Legacy): unknown {
    const refused: string[] = [];
    for (const assign of [
      () => (session.cookie.expires = new Date()),
      () => (session.cookie.maxAge = -1),
      () => (session.cookie.maxAge = Number.NaN),
    ]) {
      try {
        assign();
      } catch (error) {
        refused.push((error as Error).message);
      }
    }
    const { maxAge, originalMaxAge, httpOnly, secure, sameSite, path, domain } = session.cookie;
    const expires = session.cookie.expires!.getTime();
    return { maxAge, expires, originalMaxAge, httpOnly, secure, sameSite, path, domain, refused };
  }

  @Get('remember')
  remember(@Session() session: Legacy, @Query('ms') ms: string): unknown {
    session.cookie.maxAge = ms === 'null' ? null : Number(ms);
    return { maxAge: session.maxAge ?? null, cookieMaxAge: session.cookie.maxAge };
  }

  @Get('touch')
  touch(@Session() session: Legacy): unknown {
    return { same: session.touch() === session, id: session.id };
  }

  @Get('bad')
  bad(@Session() session: Legacy): unknown {
    session.when = new Map();
    return { ok: true };
  }

  @Get('bad-nested')
  badNested(@Session() session: Legacy): unknown {
    session.profile.tags.push(new Map());
    return { ok: true };
  }

  @Get('cyclic-nested')
  cyclicNested(@Session() session: Legacy): unknown {
    session.profile.self = session.profile;
    return { ok: true };
  }
}

describe("the session's express-session API", () => {
  let app: INestApplication;
  let cookie: string;

  beforeEach(async () => {
    backend = instrument(new MemoryBackend());
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: 3600 })],
      controllers: [LegacyController],
    });
    cookie = cookieFrom(await request(app.getHttpServer()).get('/seed').expect(200));
  });

  afterEach(() => app.close());

  const get = (path: string, cookieHeader = cookie) =>
    request(app.getHttpServer()).get(path).set('Cookie', cookieHeader);

  it('stores data set by property, and reads it back as properties', async () => {
    const res = await get('/read').expect(200);
    expect(res.body).toEqual({
      profile: { name: 'ann', tags: ['a'] },
      count: 1,
      keys: ['profile', 'count'],
      hasCount: true,
    });
  });

  it('saves a change to a nested object read by property, and only that key', async () => {
    backend.resetCalls();
    await get('/rename?to=bob').expect(200);
    await get('/tag?t=b').expect(200);
    const patched = backend.log.filter((entry) => entry.method === 'patch');
    expect(patched.map((entry) => Object.keys((entry.args[1] as { set: object }).set))).toEqual([
      ['__session', 'profile'],
      ['__session', 'profile'],
    ]);
    expect((await get('/read')).body.profile).toEqual({ name: 'bob', tags: ['a', 'b'] });
  });

  it('writes nothing when a nested object was only read', async () => {
    backend.resetCalls();
    expect((await get('/peek').expect(200)).body).toEqual({ name: 'ann' });
    expect(backend.writes).toBe(0);
  });

  it('deletes a key with the delete operator', async () => {
    await get('/drop').expect(200);
    expect((await get('/read')).body).toMatchObject({ count: null, hasCount: false });
  });

  it('regenerate(cb): a new session object, empty, under a new id; the old record is gone', async () => {
    const res = await get('/regenerate').expect(200);
    expect(res.body).toEqual({ error: null, replaced: true, keys: ['after'] });
    const fresh = cookieFrom(res);
    expect(fresh).not.toBe(cookie);
    expect((await get('/read', fresh)).body.keys).toEqual(['after']);
    expect((await get('/read')).body.keys).toEqual([]);
  });

  it('SessionService.regenerate still keeps the data under the new id', async () => {
    const res = await get('/service-regenerate').expect(200);
    expect(res.body.keys).toEqual(['count', 'profile']);
    expect((await get('/read', cookieFrom(res))).body.count).toBe(1);
  });

  it('save(cb) writes before the callback', async () => {
    expect((await get('/save').expect(200)).body).toEqual({ error: null, wrote: 1 });
    expect((await get('/read')).body.count).toBe(2);
  });

  it('destroy(cb) ends the session and clears its cookie', async () => {
    const res = await get('/destroy').expect(200);
    expect(res.body).toEqual({ error: null, keys: [] });
    expect(sessionSetCookie(res)?.attributes['max-age']).toBe('0');
    expect((await get('/read')).body.keys).toEqual([]);
  });

  it('reload(cb) drops unsaved changes; on a session not stored it reports the error', async () => {
    expect((await get('/reload').expect(200)).body).toEqual({ error: null, count: 1 });
    const fresh = await request(app.getHttpServer()).get('/reload').expect(200);
    expect(fresh.body.error).toContain('Session reload failed');
    expect(fresh.body.count).toBeNull();
  });

  it('cookie.maxAge = ms gives the session a lifetime of its own; null a browser-session cookie', async () => {
    const res = await get('/remember?ms=7200000').expect(200);
    expect(res.body).toEqual({ maxAge: 7200, cookieMaxAge: 7_200_000 });
    expect(sessionSetCookie(res)?.attributes['max-age']).toBe('7200');
    const later = await get('/cookie').expect(200);
    expect(later.body.originalMaxAge).toBe(7_200_000);
    const browser = await get('/remember?ms=null').expect(200);
    expect(browser.body).toEqual({ maxAge: 7200, cookieMaxAge: null });
    expect(sessionSetCookie(browser)?.attributes['max-age']).toBeUndefined();
  });

  it('describes its cookie; expires is read-only and a bad maxAge is refused', async () => {
    const before = Date.now();
    const { body } = await get('/cookie').expect(200);
    expect(body).toMatchObject({
      originalMaxAge: 3_600_000,
      httpOnly: true,
      secure: false,
      sameSite: 'lax',
      path: '/',
    });
    expect(body.domain).toBeUndefined();
    expect(body.maxAge).toBeGreaterThan(3_500_000);
    expect(body.maxAge).toBeLessThanOrEqual(3_600_000);
    expect(body.expires).toBeGreaterThan(before);
    expect(body.refused).toHaveLength(3);
    expect(body.refused[0]).toContain('cookie.expires is read-only');
    expect(body.refused[1]).toContain('takes a positive number of milliseconds');
    expect(body.refused[2]).toContain('got number NaN');
  });

  it('touch() returns the session and changes nothing without rolling', async () => {
    backend.resetCalls();
    expect((await get('/touch').expect(200)).body.same).toBe(true);
    expect(backend.writes).toBe(0);
  });

  it('refuses a value JSON cannot hold, assigned by property: 500, nothing stored', async () => {
    await get('/bad').expect(500);
    expect((await get('/read')).body.keys).toEqual(['profile', 'count']);
  });

  it('fails the save (500, as a bad assignment) when a nested object was changed into something JSON cannot hold', async () => {
    await get('/bad-nested').expect(500);
    expect((await get('/read')).body.profile).toEqual({ name: 'ann', tags: ['a'] });
  });

  it('fails the save (500, not a backend failure) when a nested object was made cyclic', async () => {
    await get('/cyclic-nested').expect(500);
    expect((await get('/read')).body.profile).toEqual({ name: 'ann', tags: ['a'] });
  });
});
