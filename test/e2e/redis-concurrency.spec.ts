import type { Redis } from 'ioredis';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import { sessionSetCookie } from '../support/fixtures/http.js';
import { overlapApp } from '../support/fixtures/overlap.js';
import { adminClient, redisUrl, uniquePrefix } from '../support/redis-clients.js';

describe('overlapping requests of one session on RedisBackend', () => {
  const prefix = uniquePrefix('redis-concurrency');
  let admin: Redis;
  let backend: RedisBackend;
  let session: Awaited<ReturnType<typeof overlapApp>>;

  beforeAll(async () => {
    admin = adminClient(redisUrl());
    backend = new RedisBackend({ url: redisUrl(), prefix });
    session = await overlapApp(backend);
  });

  afterAll(async () => {
    await backend?.clear();
    await session?.app.close();
    admin?.disconnect();
  });

  const overlap = (...args: Parameters<typeof session.overlap>) => session.overlap(...args);
  const read = (cookie: string) => session.read(cookie);
  async function login() {
    const { cookie, key } = await session.login();
    return { cookie, key: prefix + key };
  }

  it('keeps both keys when a slow request sets A while a fast one sets B', async () => {
    const { cookie, key } = await login();
    const { fast, slow } = await overlap(cookie, '/set?key=a&value=A&slow=1', '/set?key=b&value=B');
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(200);
    expect(session.state.finished).toEqual(['set b', 'set a']);

    expect(await read(cookie)).toEqual({
      isNew: false,
      data: { user: 'alice', x: '1', a: 'A', b: 'B' },
    });
    const stored = JSON.parse((await admin.get(key))!) as Record<string, string>;
    expect(stored).toMatchObject({ a: '"A"', b: '"B"', user: '"alice"' });
  });

  it('does not bring back a key that a fast request deleted while a slow one set another', async () => {
    const { cookie } = await login();
    const { fast, slow } = await overlap(cookie, '/set?key=a&value=A&slow=1', '/delete?key=x');
    expect(fast.body).toEqual({ deleted: true });
    expect(slow.status).toBe(200);
    expect(session.state.finished).toEqual(['delete x', 'set a']);

    const { data } = await read(cookie);
    expect(data).toEqual({ user: 'alice', a: 'A' });
  });

  it('does not bring back a key that a slow request deleted while a fast one set another', async () => {
    const { cookie } = await login();
    const { fast, slow } = await overlap(cookie, '/delete?key=x&slow=1', '/set?key=b&value=B');
    expect(fast.status).toBe(200);
    expect(slow.body).toEqual({ deleted: true });
    expect(session.state.finished).toEqual(['set b', 'delete x']);

    const { data } = await read(cookie);
    expect(data).toEqual({ user: 'alice', b: 'B' });
  });

  it('does not resurrect a session that a fast request logged out while a slow one changed it', async () => {
    const { cookie, key } = await login();
    const { fast, slow } = await overlap(cookie, '/set?key=a&value=A&slow=1', '/logout');
    expect(fast.status).toBe(200);
    expect(session.state.finished).toEqual(['logout', 'set a']);
    // The slow request still gets its answer, and no live cookie with it.
    expect(slow.status).toBe(200);
    expect(slow.body).toEqual({ ok: true });
    const reissued = sessionSetCookie(slow);
    if (reissued) expect(reissued.attributes['max-age']).toBe('0');

    expect(await admin.exists(key)).toBe(0);
    expect(await read(cookie)).toEqual({ isNew: true, data: {} });
    expect(await admin.exists(key)).toBe(0);
  });
});
