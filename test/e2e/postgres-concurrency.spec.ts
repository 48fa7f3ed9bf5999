import { Controller, Get, Injectable, Query, Req, type INestApplication } from '@nestjs/common';
import type pg from 'pg';
import request from 'supertest';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  sleep,
  storageKey,
} from '../support/fixtures/http.js';
import { adminPool, databaseUrl, dropSchema, uniqueSchema } from '../support/postgres.js';
import { rowsWith } from '../support/postgres-admin.js';

const SLOW_MS = 150;

/** What the app's handlers tell the test. */
@Injectable()
class Overlap {
  /** Lets a test wait until the slow handler has loaded its session and started waiting. */
  slowEntered: (() => void) | undefined;
  /** Handler completions, in order, to show the requests really overlapped. */
  readonly finished: string[] = [];
}

@Controller()
class OverlapController {
  constructor(
    private readonly sessions: SessionService,
    private readonly overlap: Overlap,
  ) {}

  @Get('set')
  async set(
    @Session() session: Session,
    @Query('key') key: string,
    @Query('value') value: string,
    @Query('slow') slow?: string,
  ): Promise<{ ok: true }> {
    if (slow) {
      this.overlap.slowEntered?.();
      await sleep(SLOW_MS);
    }
    session.set(key, value);
    this.overlap.finished.push(`set ${key}`);
    return { ok: true };
  }

  @Get('delete')
  async remove(
    @Session() session: Session,
    @Query('key') key: string,
    @Query('slow') slow?: string,
  ): Promise<{ deleted: boolean }> {
    if (slow) {
      this.overlap.slowEntered?.();
      await sleep(SLOW_MS);
    }
    this.overlap.finished.push(`delete ${key}`);
    return { deleted: session.delete(key) };
  }

  @Get('read')
  read(@Session() session: Session): { isNew: boolean; data: unknown } {
    return { isNew: session.isNew, data: session.toJSON() };
  }

  @Get('logout')
  async logout(@Req() req: object): Promise<{ ok: true }> {
    await this.sessions.destroy(req);
    this.overlap.finished.push('logout');
    return { ok: true };
  }
}

describe('overlapping requests of one session on PostgresBackend', () => {
  const schema = uniqueSchema('postgres-concurrency');
  let admin: pg.Pool;
  let backend: PostgresBackend;
  let app: INestApplication;
  let url: string;
  let state: Overlap;

  beforeAll(async () => {
    admin = await adminPool();
    backend = new PostgresBackend({ connectionString: databaseUrl(), schema });
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [OverlapController],
      providers: [Overlap],
    });
    // A real listening server: supertest's own listen-per-request does not
    // suit requests that are in flight at the same time.
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
    state = app.get(Overlap);
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
    if (admin) await dropSchema(admin, schema);
    await admin?.end();
  });

  async function login(): Promise<{ cookie: string; key: string }> {
    const response = await request(url).get('/set?key=user&value=alice').expect(200);
    await request(url).get('/set?key=x&value=1').set('Cookie', cookieFrom(response)).expect(200);
    return {
      cookie: cookieFrom(response),
      key: storageKey(idOf(sessionSetCookie(response)!.value)),
    };
  }

  /**
   * Sends `slowPath` (whose handler waits SLOW_MS after loading the session),
   * and once its handler is running sends `fastPath`, which completes first.
   */
  async function overlap(cookie: string, slowPath: string, fastPath: string) {
    const entered = new Promise<void>((resolve) => (state.slowEntered = resolve));
    state.finished.length = 0;
    const slow = request(url)
      .get(slowPath)
      .set('Cookie', cookie)
      .timeout(5000)
      .then((r) => r);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      entered,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the slow handler never ran')), 3000);
      }),
    ]).finally(() => clearTimeout(timer));
    const fast = await request(url).get(fastPath).set('Cookie', cookie).timeout(5000);
    const slowResponse = await slow;
    state.slowEntered = undefined;
    return { fast, slow: slowResponse };
  }

  async function read(cookie: string) {
    return (await request(url).get('/read').set('Cookie', cookie).expect(200)).body as {
      isNew: boolean;
      data: Record<string, unknown>;
    };
  }

  it('keeps both keys when a slow request sets A while a fast one sets B', async () => {
    const { cookie, key } = await login();
    const { fast, slow } = await overlap(cookie, '/set?key=a&value=A&slow=1', '/set?key=b&value=B');
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(200);
    expect(state.finished).toEqual(['set b', 'set a']);

    expect(await read(cookie)).toEqual({
      isNew: false,
      data: { user: 'alice', x: '1', a: 'A', b: 'B' },
    });
    const [row] = await rowsWith(admin, schema, key);
    // Both keys in the row, whatever the encoding of their values.
    for (const kept of ['"a":', '"b":', '"user":', 'alice']) expect(row).toContain(kept);
  });

  it('does not bring back a key that a fast request deleted while a slow one set another', async () => {
    const { cookie } = await login();
    const { fast, slow } = await overlap(cookie, '/set?key=a&value=A&slow=1', '/delete?key=x');
    expect(fast.body).toEqual({ deleted: true });
    expect(slow.status).toBe(200);
    expect(state.finished).toEqual(['delete x', 'set a']);

    const { data } = await read(cookie);
    expect(data).toEqual({ user: 'alice', a: 'A' });
  });

  it('does not bring back a key that a slow request deleted while a fast one set another', async () => {
    const { cookie } = await login();
    const { fast, slow } = await overlap(cookie, '/delete?key=x&slow=1', '/set?key=b&value=B');
    expect(fast.status).toBe(200);
    expect(slow.body).toEqual({ deleted: true });
    expect(state.finished).toEqual(['set b', 'delete x']);

    const { data } = await read(cookie);
    expect(data).toEqual({ user: 'alice', b: 'B' });
  });

  it('does not resurrect a session that a fast request logged out while a slow one changed it', async () => {
    const { cookie, key } = await login();
    const { fast, slow } = await overlap(cookie, '/set?key=a&value=A&slow=1', '/logout');
    expect(fast.status).toBe(200);
    expect(state.finished).toEqual(['logout', 'set a']);
    // The slow request still gets its answer, and no live cookie with it.
    expect(slow.status).toBe(200);
    expect(slow.body).toEqual({ ok: true });
    const reissued = sessionSetCookie(slow);
    if (reissued) expect(reissued.attributes['max-age']).toBe('0');

    expect(await rowsWith(admin, schema, key)).toEqual([]);
    expect(await read(cookie)).toEqual({ isNew: true, data: {} });
    expect(await rowsWith(admin, schema, key)).toEqual([]);
  });
});
