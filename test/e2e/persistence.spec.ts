import { Controller, Get, Query, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { MemoryBackend, Session, SessionModule } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { cookieFrom, SECRET, sessionSetCookie } from '../support/fixtures/http.js';
import { depthOf, nestedArrays } from '../support/fixtures/values.js';

interface Profile {
  name: string;
  tags: string[];
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

function unrepresentable(kind: string): unknown {
  switch (kind) {
    case 'map':
      return new Map([['a', 1]]);
    case 'set':
      return new Set([1]);
    case 'class-instance':
      return { at: new Point(1, 2) };
    case 'typed-array':
      return new Uint8Array([1]);
    case 'array-hole':
      return new Array(3);
    case 'toJSON-undefined':
      return { total: { toJSON: () => undefined } };
    case 'too-deep':
      return nestedArrays(100_000);
    case 'bigint':
      return 10n;
    case 'function':
      return () => 1;
    case 'circular': {
      const value: Record<string, unknown> = { a: 1 };
      value.self = value;
      return value;
    }
    case 'nan':
      return Number.NaN;
    case 'nested-bigint':
      return { deep: [1, 2n] };
    default:
      throw new Error(kind);
  }
}

@Controller()
class PersistenceController {
  @Get('nothing')
  nothing(): { ok: true } {
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return { isNew: session.isNew, data: session.toJSON() };
  }

  @Get('login')
  login(@Session() session: Session): { ok: true } {
    session.set('user', 'alice');
    session.set('profile', { name: 'Alice', tags: ['a'] } satisfies Profile);
    return { ok: true };
  }

  @Get('set')
  set(
    @Session() session: Session,
    @Query('key') key: string,
    @Query('value') value: string,
  ): { ok: true } {
    session.set(key, value);
    return { ok: true };
  }

  @Get('delete')
  remove(@Session() session: Session, @Query('key') key: string): { deleted: boolean } {
    return { deleted: session.delete(key) };
  }

  @Get('clear')
  clear(@Session() session: Session): { ok: true } {
    session.clear();
    return { ok: true };
  }

  @Get('set-then-clear')
  setThenClear(@Session() session: Session): { ok: true } {
    session.set('temp', 1);
    session.clear();
    return { ok: true };
  }

  @Get('mutate-copy')
  mutateCopy(@Session() session: Session): unknown {
    const profile = session.get('profile') as Profile;
    profile.name = 'Mallory';
    profile.tags.push('x');
    return { afterMutation: session.get('profile') };
  }

  @Get('mutate-and-set')
  mutateAndSet(@Session() session: Session): { ok: true } {
    const profile = session.get('profile') as Profile;
    profile.name = 'Bob';
    session.set('profile', profile);
    return { ok: true };
  }

  @Get('mutate-after-set')
  mutateAfterSet(@Session() session: Session): { ok: true } {
    const profile: Profile = { name: 'Carol', tags: [] };
    session.set('profile', profile);
    profile.name = 'changed after set';
    return { ok: true };
  }

  @Get('slow-set')
  async slowSet(
    @Session() session: Session,
    @Query('key') key: string,
    @Query('delay') delay: string,
  ): Promise<{ ok: true }> {
    session.set(key, key);
    await new Promise((resolve) => setTimeout(resolve, Number(delay)));
    return { ok: true };
  }

  @Get('bad-value')
  badValue(@Session() session: Session, @Query('kind') kind: string): unknown {
    try {
      session.set('bad', unrepresentable(kind));
      return { thrown: false };
    } catch (error) {
      return {
        thrown: true,
        name: (error as Error).name,
        message: (error as Error).message,
        has: session.has('bad'),
      };
    }
  }

  @Get('set-json')
  setJson(
    @Session() session: Session,
    @Query('key') key: string,
    @Query('json') json: string,
  ): { ok: true } {
    session.set(key, JSON.parse(json));
    return { ok: true };
  }

  @Get('set-deep')
  setDeep(@Session() session: Session, @Query('levels') levels: string): { ok: true } {
    session.set('deep', nestedArrays(Number(levels)));
    return { ok: true };
  }

  @Get('bad-value-uncaught')
  badValueUncaught(@Session() session: Session): { ok: true } {
    session.set('user', 'changed');
    session.set('bad', unrepresentable('bigint'));
    return { ok: true };
  }
}

describe('persistence', () => {
  let app: INestApplication;
  let backend: Instrumented<MemoryBackend>;

  beforeEach(async () => {
    backend = instrument(new MemoryBackend());
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [PersistenceController],
    });
  });

  afterEach(async () => {
    await app.close();
  });

  async function login(): Promise<string> {
    const res = await request(app.getHttpServer()).get('/login').expect(200);
    backend.resetCalls();
    return cookieFrom(res);
  }

  const get = (path: string, cookie?: string) => {
    const req = request(app.getHttpServer()).get(path);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  it('stores nothing and sets no cookie for a new session that was never touched', async () => {
    const res = await get('/nothing').expect(200);
    expect(sessionSetCookie(res)).toBeUndefined();
    expect(backend.size).toBe(0);
  });

  it('stores nothing and sets no cookie for a new session that was only read', async () => {
    const res = await get('/read').expect(200, { isNew: true, data: {} });
    expect(sessionSetCookie(res)).toBeUndefined();
    expect(backend.size).toBe(0);
    expect(backend.writes).toBe(0);
  });

  it('stores nothing and sets no cookie for a new session that was set then cleared', async () => {
    const res = await get('/set-then-clear').expect(200);
    expect(sessionSetCookie(res)).toBeUndefined();
    expect(backend.size).toBe(0);
  });

  it('saves a modified new session and sets its cookie', async () => {
    const res = await get('/login').expect(200);
    expect(sessionSetCookie(res)).toBeDefined();
    expect(backend.size).toBe(1);
    await get('/read', cookieFrom(res)).expect(200, {
      isNew: false,
      data: { user: 'alice', profile: { name: 'Alice', tags: ['a'] } },
    });
  });

  it('does not write a loaded session that was not modified, nor re-send its cookie', async () => {
    const cookie = await login();
    const res = await get('/read', cookie).expect(200);
    expect(res.body.isNew).toBe(false);
    expect(backend.writes).toBe(0);
    expect(backend.calls.touch).toBe(0);
    expect(sessionSetCookie(res)).toBeUndefined();
  });

  it('saves a modified loaded session', async () => {
    const cookie = await login();
    await get('/set?key=theme&value=dark', cookie).expect(200);
    expect(backend.writes).toBe(1);
    const res = await get('/read', cookie).expect(200);
    expect(res.body.data).toEqual({
      user: 'alice',
      profile: { name: 'Alice', tags: ['a'] },
      theme: 'dark',
    });
  });

  it('saves a deleted key', async () => {
    const cookie = await login();
    await get('/delete?key=user', cookie).expect(200, { deleted: true });
    const res = await get('/read', cookie).expect(200);
    expect(res.body.data).toEqual({ profile: { name: 'Alice', tags: ['a'] } });
  });

  it('does not write when deleting a key that is not there', async () => {
    const cookie = await login();
    await get('/delete?key=nope', cookie).expect(200, { deleted: false });
    expect(backend.writes).toBe(0);
  });

  it('deletes the record and clears the cookie of a stored session emptied with clear()', async () => {
    const cookie = await login();
    expect(backend.size).toBe(1);
    const res = await get('/clear', cookie).expect(200);
    expect(backend.size).toBe(0);
    const cleared = sessionSetCookie(res);
    expect(cleared?.value).toBe('');
    expect(cleared?.attributes['max-age']).toBe('0');
    expect(Date.parse(cleared?.attributes.expires as string)).toBeLessThan(Date.now());
    await get('/read', cookie).expect(200, { isNew: true, data: {} });
  });

  it('returns copies: mutating a nested object without set() changes nothing', async () => {
    const cookie = await login();
    const res = await get('/mutate-copy', cookie).expect(200);
    expect(res.body.afterMutation).toEqual({ name: 'Alice', tags: ['a'] });
    expect(backend.writes).toBe(0);
    const after = await get('/read', cookie).expect(200);
    expect(after.body.data.profile).toEqual({ name: 'Alice', tags: ['a'] });
  });

  it('saves a nested object that was mutated and set again', async () => {
    const cookie = await login();
    await get('/mutate-and-set', cookie).expect(200);
    const after = await get('/read', cookie).expect(200);
    expect(after.body.data.profile).toEqual({ name: 'Bob', tags: ['a'] });
  });

  it('stores a copy at set(): mutating the object afterwards changes nothing', async () => {
    const cookie = await login();
    await get('/mutate-after-set', cookie).expect(200);
    const after = await get('/read', cookie).expect(200);
    expect(after.body.data.profile).toEqual({ name: 'Carol', tags: [] });
  });

  it('keeps both changes of two overlapping requests of one session on MemoryBackend', async () => {
    const cookie = await login();
    await Promise.all([
      get('/slow-set?key=a&delay=150', cookie).expect(200),
      get('/slow-set?key=b&delay=0', cookie).expect(200),
    ]);
    const after = await get('/read', cookie).expect(200);
    expect(after.body.data).toMatchObject({ user: 'alice', a: 'a', b: 'b' });
  });

  it.each([
    'bigint',
    'function',
    'circular',
    'nan',
    'nested-bigint',
    'map',
    'set',
    'class-instance',
    'typed-array',
    'array-hole',
    'toJSON-undefined',
    'too-deep',
  ])(
    'refuses a %s value with an error naming the key, leaving the session and the store untouched',
    async (kind) => {
      const cookie = await login();
      const res = await get(`/bad-value?kind=${kind}`, cookie).expect(200);
      expect(res.body).toMatchObject({ thrown: true, name: 'SessionValueError', has: false });
      expect(res.body.message).toContain('"bad"');
      expect(backend.writes).toBe(0);
      const after = await get('/read', cookie).expect(200);
      expect(after.body.data).toEqual({ user: 'alice', profile: { name: 'Alice', tags: ['a'] } });
    },
  );

  it('answers 500 when a handler lets the error escape, still saving what was validly set before it', async () => {
    const cookie = await login();
    await get('/bad-value-uncaught', cookie).expect(500);
    const after = await get('/read', cookie).expect(200);
    expect(after.body.data.user).toBe('changed');
    expect(after.body.data.bad).toBeUndefined();
  });

  it('refuses the key "__proto__" with a 500, changing nothing', async () => {
    const cookie = await login();
    await get('/set?key=__proto__&value=x', cookie).expect(500);
    expect(backend.writes).toBe(0);
    const after = await get('/read', cookie).expect(200);
    expect(after.body.data).toEqual({ user: 'alice', profile: { name: 'Alice', tags: ['a'] } });
  });

  it('stores a nested "__proto__" key from parsed JSON as plain data', async () => {
    const cookie = await login();
    const json = JSON.stringify({ theme: 'dark' }).replace('{', '{"__proto__":{"admin":true},');
    await get(`/set-json?key=prefs&json=${encodeURIComponent(json)}`, cookie).expect(200);
    const after = await get('/read', cookie).expect(200);
    const prefs = after.body.data.prefs as Record<string, unknown>;
    expect(Object.hasOwn(prefs, '__proto__')).toBe(true);
    expect(JSON.stringify(prefs)).toBe('{"__proto__":{"admin":true},"theme":"dark"}');
    expect(after.body.data.admin).toBeUndefined();
  });

  it('stores 2,000 levels of nested arrays', async () => {
    const cookie = await login();
    await get('/set-deep?levels=2000', cookie).expect(200);
    expect(backend.writes).toBe(1);
    const after = await get('/read', cookie).expect(200);
    expect(depthOf(after.body.data.deep)).toBe(2001);
  });
});
