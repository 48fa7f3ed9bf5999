// Per-session lifetimes ("remember me", browser-session cookies) and lazy
// touch (touchAfter), over HTTP, on MemoryBackend, RedisBackend and
// PostgresBackend.
import {
  BadRequestException,
  Controller,
  Get,
  Query,
  Req,
  type INestApplication,
} from '@nestjs/common';
import request from 'supertest';
import {
  Session,
  SessionModule,
  SessionService,
  type SessionBackend,
  type SessionModuleOptions,
} from '../../src/index.js';
import { META_KEY } from '../../src/session.constants.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  sleep,
  storageKey,
} from '../support/fixtures/http.js';
import { lifetimeBackends } from '../support/fixtures/lifetime-backends.js';
import type { Instrumented } from '../support/instrument.js';

const HOUR = 3600;
const MONTH = 30 * 24 * 3600;

@Controller()
class LoginController {
  constructor(private readonly sessions: SessionService) {}

  /** A login form: "remember me" gets 30 days, otherwise the cookie lasts as long as the browser. */
  @Get('login')
  async login(
    @Req() req: object,
    @Session() session: Session,
    @Query('remember') remember?: string,
    @Query('browser') browser?: string,
  ) {
    session.set('userId', 7);
    if (remember) session.setMaxAge(MONTH);
    if (browser) session.setMaxAge(null, { persistent: false });
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('regenerate')
  async regenerate(@Req() req: object) {
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('me')
  me(@Session() session: Session) {
    return { userId: session.get('userId') ?? null, maxAge: session.maxAge ?? null };
  }

  @Get('note')
  note(@Session() session: Session, @Query('text') text: string) {
    session.set('note', text);
    return { ok: true };
  }

  @Get('lifetime')
  lifetime(@Session() session: Session, @Query('seconds') seconds: string) {
    session.setMaxAge(Number(seconds));
    return { ok: true };
  }

  /** Bad input to setMaxAge: the error it throws, as a 400. */
  @Get('bad')
  bad(@Session() session: Session, @Query('case') which: string) {
    const cases: Record<string, () => unknown> = {
      zero: () => session.setMaxAge(0),
      negative: () => session.setMaxAge(-5),
      nan: () => session.setMaxAge(NaN),
      infinite: () => session.setMaxAge(Infinity),
      string: () => session.setMaxAge('60' as unknown as number),
      tooLong: () => session.setMaxAge(400 * 24 * 3600 + 1),
      persistent: () => session.setMaxAge(60, { persistent: 'no' as unknown as boolean }),
    };
    try {
      cases[which]();
    } catch (error) {
      throw new BadRequestException(`${(error as Error).name}: ${(error as Error).message}`);
    }
    return { ok: true };
  }
}

describe.each(lifetimeBackends())('per-session lifetimes on $name', (kind) => {
  const apps: INestApplication[] = [];

  async function boot(
    options: Partial<SessionModuleOptions> = {},
  ): Promise<{ server: unknown; backend: Instrumented<SessionBackend> }> {
    const backend = kind.create();
    const app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: HOUR, ...options })],
      controllers: [LoginController],
    });
    apps.push(app);
    return { server: app.getHttpServer(), backend };
  }

  async function login(server: unknown, query = '') {
    const response = await request(server as never)
      .get(`/login?${query}`)
      .expect(200);
    const cookie = sessionSetCookie(response)!;
    return { response, cookie, key: storageKey(idOf(cookie.value)), header: cookieFrom(response) };
  }

  /** Moves the record's last extension `seconds` into the past, through the backend itself. */
  async function age(backend: SessionBackend, key: string, seconds: number) {
    const record = (await backend.read(key))!;
    const meta = record[META_KEY] as { e: number };
    meta.e -= seconds * 1000;
    await backend.write(key, record, HOUR);
  }

  beforeAll(() => kind.setup(), 30_000);
  afterAll(async () => {
    for (const app of apps) await app.close();
    await kind.teardown();
  }, 30_000);

  it('gives a "remember me" login its own lifetime: cookie, store TTL and later requests', async () => {
    const { server } = await boot();
    const plain = await login(server);
    expect(plain.cookie.attributes['max-age']).toBe(String(HOUR));
    expect(await kind.ttl(plain.key)).toBeLessThanOrEqual(HOUR);

    const remembered = await login(server, 'remember=1');
    expect(remembered.cookie.attributes['max-age']).toBe(String(MONTH));
    expect(remembered.cookie.attributes.expires).toBeDefined();
    expect(await kind.ttl(remembered.key)).toBeGreaterThan(MONTH - 60);
    await request(server as never)
      .get('/me')
      .set('Cookie', remembered.header)
      .expect(200, { userId: 7, maxAge: MONTH });
    await request(server as never)
      .get('/me')
      .set('Cookie', plain.header)
      .expect(200, { userId: 7, maxAge: null });
  });

  it('keeps the lifetime through regenerate, and through a later change', async () => {
    const { server } = await boot();
    const remembered = await login(server, 'remember=1');
    const regenerated = await request(server as never)
      .get('/regenerate')
      .set('Cookie', remembered.header)
      .expect(200);
    const cookie = sessionSetCookie(regenerated)!;
    expect(idOf(cookie.value)).not.toBe(idOf(remembered.cookie.value));
    expect(cookie.attributes['max-age']).toBe(String(MONTH));
    const key = storageKey(idOf(cookie.value));
    expect(await kind.ttl(remembered.key)).toBeNull();
    expect(await kind.ttl(key)).toBeGreaterThan(MONTH - 60);

    await request(server as never)
      .get('/note?text=hi')
      .set('Cookie', cookieFrom(regenerated))
      .expect(200);
    expect(await kind.ttl(key)).toBeGreaterThan(MONTH - 60);
    await request(server as never)
      .get('/me')
      .set('Cookie', cookieFrom(regenerated))
      .expect(200, { userId: 7, maxAge: MONTH });
  });

  it('with rolling, slides a remembered session by its own lifetime', async () => {
    const { server } = await boot({ rolling: true });
    const remembered = await login(server, 'remember=1');
    const read = await request(server as never)
      .get('/me')
      .set('Cookie', remembered.header)
      .expect(200);
    expect(sessionSetCookie(read)!.attributes['max-age']).toBe(String(MONTH));
    expect(await kind.ttl(remembered.key)).toBeGreaterThan(MONTH - 60);
  });

  it('lets absoluteTimeout cap a longer lifetime', async () => {
    const { server } = await boot({ rolling: true, absoluteTimeout: 2 * HOUR });
    const remembered = await login(server, 'remember=1');
    expect(Number(remembered.cookie.attributes['max-age'])).toBeLessThanOrEqual(2 * HOUR);
    expect(await kind.ttl(remembered.key)).toBeLessThanOrEqual(2 * HOUR);
    const read = await request(server as never)
      .get('/me')
      .set('Cookie', remembered.header)
      .expect(200);
    expect(Number(sessionSetCookie(read)!.attributes['max-age'])).toBeLessThanOrEqual(2 * HOUR);
  });

  it('ends a session with a short lifetime of its own on the server, whatever the cookie says', async () => {
    const { server } = await boot({ rolling: true });
    const { header } = await login(server);
    const changed = await request(server as never)
      .get('/lifetime?seconds=1')
      .set('Cookie', header)
      .expect(200);
    expect(sessionSetCookie(changed)!.attributes['max-age']).toBe('1');
    await sleep(1500);
    await request(server as never)
      .get('/me')
      .set('Cookie', header)
      .expect(200, { userId: null, maxAge: null });
  });

  it('sends a browser-session cookie without Max-Age or Expires, while the store still expires it', async () => {
    const { server } = await boot({ rolling: true });
    const browser = await login(server, 'browser=1');
    expect(browser.cookie.attributes['max-age']).toBeUndefined();
    expect(browser.cookie.attributes.expires).toBeUndefined();
    expect(await kind.ttl(browser.key)).toBeLessThanOrEqual(HOUR);
    expect(await kind.ttl(browser.key)).toBeGreaterThan(HOUR - 60);
    // Later requests keep it a browser-session cookie.
    const read = await request(server as never)
      .get('/me')
      .set('Cookie', browser.header)
      .expect(200);
    expect(sessionSetCookie(read)!.attributes['max-age']).toBeUndefined();
    // A logout still clears it with Max-Age=0.
  });

  it('with cookie.persistent false, sends browser-session cookies but clears with Max-Age=0', async () => {
    const { server } = await boot({ cookie: { persistent: false } });
    const plain = await login(server);
    expect(plain.cookie.attributes['max-age']).toBeUndefined();
    expect(plain.cookie.attributes.expires).toBeUndefined();
    expect(await kind.ttl(plain.key)).toBeGreaterThan(HOUR - 60);
    // "Remember me" still makes a persistent one only if asked to.
    const remembered = await login(server, 'remember=1');
    expect(remembered.cookie.attributes['max-age']).toBeUndefined();
    expect(await kind.ttl(remembered.key)).toBeGreaterThan(MONTH - 60);
  });

  it.each([
    ['zero', /RangeError: session.setMaxAge\(\): expected a positive number of seconds/],
    ['negative', /RangeError: .*got number -5/],
    ['nan', /RangeError: .*got number NaN/],
    ['infinite', /RangeError: .*got number Infinity/],
    ['string', /RangeError: .*got "60"/],
    ['tooLong', /RangeError: .*at most 34560000 \(400 days/],
    ['persistent', /TypeError: .*`persistent` to be true or false, got "no"/],
  ])('refuses setMaxAge %s with a clear error, the session unchanged', async (which, message) => {
    const { server, backend } = await boot();
    const { header, key } = await login(server);
    const before = await backend.read(key);
    const response = await request(server as never)
      .get(`/bad?case=${which}`)
      .set('Cookie', header)
      .expect(400);
    expect(response.body.message).toMatch(message);
    expect(sessionSetCookie(response)).toBeUndefined();
    expect(await backend.read(key)).toEqual(before);
  });

  describe('touchAfter', () => {
    it('extends on a read-only request only once touchAfter has passed, with one read meanwhile', async () => {
      const { server, backend } = await boot({ rolling: true, touchAfter: 600 });
      const { header, key } = await login(server);

      backend.resetCalls();
      const early = await request(server as never)
        .get('/me')
        .set('Cookie', header)
        .expect(200);
      expect(sessionSetCookie(early)).toBeUndefined();
      expect(backend.calls).toMatchObject({
        read: 1,
        readAndTouch: 0,
        touch: 0,
        patch: 0,
        write: 0,
      });
      expect(backend.total).toBe(1);

      await age(backend, key, 601);
      const ttlBefore = (await kind.ttl(key))!;
      backend.resetCalls();
      const due = await request(server as never)
        .get('/me')
        .set('Cookie', header)
        .expect(200);
      expect(sessionSetCookie(due)!.attributes['max-age']).toBe(String(HOUR));
      expect(backend.calls.read).toBe(1);
      expect(backend.writes).toBe(1);
      expect(await kind.ttl(key)).toBeGreaterThan(HOUR - 60);
      expect(ttlBefore).toBeLessThanOrEqual(HOUR);

      // Extended: the next request reads only again.
      backend.resetCalls();
      const after = await request(server as never)
        .get('/me')
        .set('Cookie', header)
        .expect(200, { userId: 7, maxAge: null });
      expect(sessionSetCookie(after)).toBeUndefined();
      expect(backend.total).toBe(1);
    });

    it('scales touchAfter down for a session whose own lifetime is shorter', async () => {
      const { server, backend } = await boot({ rolling: true, touchAfter: 1800 });
      const { header, key } = await login(server);
      await request(server as never)
        .get('/lifetime?seconds=600')
        .set('Cookie', header)
        .expect(200);
      // 1800 of 3600 is half: a 600-second session is extended after 300.
      await age(backend, key, 301);
      const due = await request(server as never)
        .get('/me')
        .set('Cookie', header)
        .expect(200);
      expect(sessionSetCookie(due)!.attributes['max-age']).toBe('600');
    });

    it('does not bring back a session ended between its read and its touch', async () => {
      const { server, backend } = await boot({ rolling: true, touchAfter: 60 });
      const { header, key } = await login(server);
      await age(backend, key, 120);
      // The touch, whichever method does it, is held back until the record is gone.
      const writes = ['patch', 'write', 'touch'] as const;
      for (const method of writes) backend.slow.add(method);
      backend.delayMs = 300;
      backend.resetCalls();
      const reading = request(server as never)
        .get('/me')
        .set('Cookie', header)
        .expect(200);
      const ending = (async () => {
        while (writes.every((method) => backend.calls[method] === 0)) await sleep(1);
        await backend.destroy(key);
      })();
      await Promise.all([reading, ending]);
      backend.slow.clear();
      expect(await backend.read(key)).toBeNull();
    });
  });
});
