import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import type { SessionData } from '../../src/backends/session-backend.js';
import { adminClient, redisUrl, uniquePrefix } from '../support/redis-clients.js';
import { freePort, startRedis } from '../support/redis-server.js';
import { storageKey } from '../../src/testing/values.js';

type Server = Awaited<ReturnType<typeof startRedis>>;

describe('RedisBackend', () => {
  const prefix = uniquePrefix('redis-backend');
  let admin: Redis;
  let backend: RedisBackend;

  beforeAll(() => {
    admin = adminClient(redisUrl());
    backend = new RedisBackend({ url: redisUrl(), prefix });
  });

  afterAll(async () => {
    await backend?.clear();
    await backend?.close();
    admin?.disconnect();
  });

  afterEach(() => jest.restoreAllMocks());

  describe('storage format', () => {
    it('stores one string per session: a JSON object of JSON-encoded values, with a TTL', async () => {
      const id = storageKey();
      await backend.write(id, { userId: '123', __session: { c: 1, e: 2 }, list: [] }, 100);
      const raw = await admin.get(prefix + id);
      expect(JSON.parse(raw!)).toEqual({
        userId: '"123"',
        __session: '{"c":1,"e":2}',
        list: '[]',
      });
      const ttl = await admin.ttl(prefix + id);
      expect(ttl).toBeGreaterThan(95);
      expect(ttl).toBeLessThanOrEqual(100);
    });

    it('keeps that format through a patch (values are not re-encoded by the script)', async () => {
      const id = storageKey();
      await backend.write(id, { big: Number.MAX_SAFE_INTEGER, a: 1 }, 100);
      await backend.patch(id, { set: { list: [], obj: {} }, unset: ['a'] }, 50);
      expect(JSON.parse((await admin.get(prefix + id))!)).toEqual({
        big: '9007199254740991',
        list: '[]',
        obj: '{}',
      });
      expect(await admin.ttl(prefix + id)).toBeLessThanOrEqual(50);
    });

    it('patches byte for byte: the result is exactly what a write of the merged data stores', async () => {
      const id = storageKey();
      const before = { a: 1, '\ud83d': 'lone', text: 'é\u2028"\\', list: [[[]]] };
      await backend.write(id, before, 100);
      const delta = { set: { text: { deep: '\ude00' }, z: -0.5 }, unset: ['a', 'absent'] };
      await expect(backend.patch(id, delta, 100)).resolves.toBe(true);
      const merged = { '\ud83d': 'lone', text: { deep: '\ude00' }, list: [[[]]], z: -0.5 };
      const reference = storageKey();
      await backend.write(reference, merged, 100);
      await expect(admin.get(prefix + id)).resolves.toBe(await admin.get(prefix + reference));
    });

    it('patches random records of JSON-special characters exactly as a write would store them', async () => {
      // A small deterministic generator (xorshift), so a failure can be replayed.
      let seed = 0x2545f491;
      const random = (n: number) => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) % n;
      };
      const alphabet = ['"', '\\', '\\\\', '\\"', 'a', ',', ':', '{', '}', '[', ']', ' ', '\n'];
      alphabet.push('\u2028', '\ud83d', '\ude00', '😀', '\u0000', 'é');
      const text = () =>
        Array.from({ length: random(6) }, () => alphabet[random(alphabet.length)]).join('');
      const value = (depth: number): unknown => {
        switch (random(depth > 3 ? 3 : 5)) {
          case 0:
            return text();
          case 1:
            return random(1000) - 500;
          case 2:
            return [true, false, null][random(3)];
          case 3:
            return Array.from({ length: random(3) }, () => value(depth + 1));
          default:
            return Object.fromEntries(
              Array.from({ length: random(3) }, () => [text(), value(depth + 1)]),
            );
        }
      };
      const names = Array.from({ length: 12 }, text);
      const id = storageKey();
      const reference = storageKey();
      let data: SessionData = {};
      await backend.write(id, data, 60);
      for (let round = 0; round < 60; round += 1) {
        const set: SessionData = {};
        for (let i = random(4); i > 0; i -= 1) set[names[random(names.length)]] = value(0);
        const unset = Array.from({ length: random(3) }, () => names[random(names.length)]);
        await expect(backend.patch(id, { set, unset }, 60)).resolves.toBe(true);
        data = { ...data };
        for (const name of unset) delete data[name];
        data = { ...data, ...set };
        await backend.write(reference, data, 60);
        const [patched, written] = await Promise.all([
          admin.get(prefix + id),
          admin.get(prefix + reference),
        ]);
        // Byte for byte: kept keys keep their place, new ones go last, as in the spread above.
        expect(patched).toBe(written);
        await expect(backend.read(id)).resolves.toEqual(data);
      }
    });

    it('patches a record spelled with JSON whitespace, as read accepts it', async () => {
      const id = storageKey();
      await admin.set(prefix + id, ' { "a" : "1" ,\n "b":" [ 2 ]\\n" } ', 'EX', 60);
      await expect(backend.read(id)).resolves.toEqual({ a: 1, b: [2] });
      await expect(backend.patch(id, { set: { c: 3 }, unset: ['a'] }, 60)).resolves.toBe(true);
      await expect(backend.read(id)).resolves.toEqual({ b: [2], c: 3 });
    });

    it('patches names that the cjson-based script of earlier versions wrote with \\/ escapes', async () => {
      const id = storageKey();
      // cjson escapes "/" in names and values; a backslash before it stays literal.
      await admin.set(prefix + id, '{"a\\/b":"1","c\\\\/d":"2","x":"\\"\\/\\""}', 'EX', 60);
      await expect(backend.read(id)).resolves.toEqual({ 'a/b': 1, 'c\\/d': 2, x: '/' });
      await expect(backend.patch(id, { set: { 'c\\/d': 3 }, unset: ['a/b'] }, 60)).resolves.toBe(
        true,
      );
      await expect(backend.read(id)).resolves.toEqual({ 'c\\/d': 3, x: '/' });
    });

    it('patches a name that the cjson-based script of earlier versions wrote with a \\u007f escape', async () => {
      const id = storageKey();
      await admin.set(prefix + id, '{"a\\u007f":"1","b\\\\u007f":"2"}', 'EX', 60);
      await expect(backend.read(id)).resolves.toEqual({ 'a\x7f': 1, 'b\\u007f': 2 });
      await expect(
        backend.patch(id, { set: { 'b\\u007f': 3 }, unset: ['a\x7f'] }, 60),
      ).resolves.toBe(true);
      await expect(backend.read(id)).resolves.toEqual({ 'b\\u007f': 3 });
    });

    it('stores a lone surrogate in a key name as an ASCII escape, so the bytes are valid UTF-8', async () => {
      const id = storageKey();
      await backend.write(id, { '\ud83d': '\ude00' }, 60);
      const bytes = await admin.getBuffer(prefix + id);
      expect(bytes!.toString('latin1')).toBe(
        JSON.stringify({ '\ud83d': JSON.stringify('\ude00') }),
      );
      expect([...bytes!].every((b) => b < 0x80)).toBe(true);
    });

    it('uses millisecond precision for a TTL that is not whole seconds', async () => {
      const id = storageKey();
      await backend.write(id, { a: 1 }, 2.5);
      const pttl = await admin.pttl(prefix + id);
      expect(pttl).toBeGreaterThan(2000);
      expect(pttl).toBeLessThanOrEqual(2500);
    });
  });

  describe('unreadable records', () => {
    const corrupt = {
      'not JSON': '{"userId": nope',
      'JSON but not an object': '[1,2,3]',
      'a JSON null': 'null',
      'an empty string': '',
      'a field that is not a string': '{"userId":123}',
      'a field that is not valid JSON': '{"userId":"{not json"}',
      'a field holding an empty string': '{"userId":""}',
      'a truncated record': '{"userId":"\\"ann',
      'text after the object': '{"userId":"1"}x',
      'a missing comma': '{"a":"1" "b":"2"}',
    };

    function quietWarnings() {
      return jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    }

    it.each(Object.entries(corrupt))(
      'reads %s as missing, logs a warning without the value or key, and removes it',
      async (_what, raw) => {
        const warn = quietWarnings();
        const id = storageKey();
        await admin.set(prefix + id, raw, 'EX', 60);
        await expect(backend.read(id)).resolves.toBeNull();
        await expect(admin.exists(prefix + id)).resolves.toBe(0);
        expect(warn).toHaveBeenCalledTimes(1);
        const logged = String(warn.mock.calls[0][0]);
        expect(logged).toContain(id.slice(0, 8));
        expect(logged).not.toContain(id);
        if (raw !== '') expect(logged).not.toContain(raw);

        await admin.set(prefix + id, raw, 'EX', 60);
        await expect(backend.readAndTouch(id, 60)).resolves.toBeNull();
        await expect(admin.exists(prefix + id)).resolves.toBe(0);
        expect(warn).toHaveBeenCalledTimes(2);
      },
    );

    it.each(Object.entries(corrupt))(
      'patch resolves false for %s, logs a warning and removes it, creating nothing',
      async (_what, raw) => {
        const warn = quietWarnings();
        const id = storageKey();
        await admin.set(prefix + id, raw, 'EX', 60);
        await expect(backend.patch(id, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(false);
        await expect(admin.exists(prefix + id)).resolves.toBe(0);
        expect(warn).toHaveBeenCalledTimes(1);
      },
    );

    it('treats a key of another type (a hash) the same way, in read, readAndTouch and patch', async () => {
      const warn = quietWarnings();
      const id = storageKey();
      const calls = [
        () => backend.read(id),
        () => backend.readAndTouch(id, 60),
        () => backend.patch(id, { set: { a: 1 }, unset: [] }, 60),
      ];
      for (const call of calls) {
        await admin.hset(prefix + id, 'field', 'value');
        await expect(call()).resolves.toBeFalsy();
        await expect(admin.exists(prefix + id)).resolves.toBe(0);
      }
      expect(warn).toHaveBeenCalledTimes(3);
    });

    it('tells a missing record (no warning) from an unreadable one', async () => {
      const warn = quietWarnings();
      await expect(backend.patch(storageKey(), { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
        false,
      );
      await expect(backend.read(storageKey())).resolves.toBeNull();
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('user index', () => {
    const owner = () => storageKey();
    const indexKey = (who: string) => `${prefix}user:{${who}}`;
    const deadlinesKey = (who: string) => `${prefix}user:{${who}}:d`;

    it('records each entry as createdAt:seenAt:deadline, and its deadline in a sorted set beside it', async () => {
      const who = owner();
      const id = storageKey();
      const before = Date.now();
      await backend.indexAdd(who, id, 1234, 120, { seenAt: 5678 });
      const [createdAt, seenAt, deadline] = (await admin.hget(indexKey(who), id))!
        .split(':')
        .map(Number);
      expect([createdAt, seenAt]).toEqual([1234, 5678]);
      expect(deadline).toBeGreaterThanOrEqual(before + 120_000);
      expect(deadline).toBeLessThanOrEqual(Date.now() + 120_000);
      await expect(admin.zscore(deadlinesKey(who), id)).resolves.toBe(String(deadline));
      for (const key of [indexKey(who), deadlinesKey(who)]) {
        await expect(admin.pttl(key)).resolves.toBeGreaterThan(115_000);
      }
    });

    it('keeps a description in a third key of the slot, as text, and reads entries of earlier versions', async () => {
      const who = owner();
      const [id, legacy] = [storageKey(), storageKey()];
      for (const each of [id, legacy]) await backend.write(each, { each }, 60);
      const info = '{"ua":"x:1:2","quote":"\\"","lone":"\\ud800"}';
      await backend.indexAdd(who, id, 1, 120, { seenAt: 2, info });
      await expect(admin.hget(`${indexKey(who)}:i`, id)).resolves.toBe(info);
      await expect(admin.pttl(`${indexKey(who)}:i`)).resolves.toBeGreaterThan(115_000);
      // An entry as an earlier version wrote it: createdAt:deadline.
      await admin.hset(indexKey(who), legacy, `777:${Date.now() + 60_000}`);
      const list = await backend.indexList(who);
      expect(list.find((entry) => entry.id === id)).toMatchObject({ seenAt: 2, info });
      expect(list.find((entry) => entry.id === legacy)).toMatchObject({
        createdAt: 777,
        seenAt: 777,
      });
      await backend.indexDestroy(who, [id]);
      await expect(admin.hexists(`${indexKey(who)}:i`, id)).resolves.toBe(0);
    });

    it('drops an entry whose deadline passed from both keys when another entry is added', async () => {
      const who = owner();
      const [long, short, added] = [storageKey(), storageKey(), storageKey()];
      for (const id of [long, short, added]) await backend.write(id, { id }, 60);
      await backend.indexAdd(who, long, 1, 60);
      await backend.indexAdd(who, short, 2, 0.2);
      await expect(admin.hlen(indexKey(who))).resolves.toBe(2);
      await expect(admin.zcard(deadlinesKey(who))).resolves.toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await expect(admin.hlen(indexKey(who))).resolves.toBe(2);
      await backend.indexAdd(who, added, 3, 60);
      const kept = [long, added].sort();
      await expect(admin.hkeys(indexKey(who)).then((keys) => keys.sort())).resolves.toEqual(kept);
      await expect(
        admin.zrange(deadlinesKey(who), 0, '-1').then((keys) => keys.sort()),
      ).resolves.toEqual(kept);
    });

    it('moves an entry added again to its new deadline, so it is not dropped at the old one', async () => {
      const who = owner();
      const [id, other] = [storageKey(), storageKey()];
      await backend.indexAdd(who, id, 7, 0.2);
      await backend.indexAdd(who, id, 7, 60);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await backend.indexAdd(who, other, 8, 60);
      await expect(admin.hget(indexKey(who), id)).resolves.toMatch(/^7:/);
      await expect(admin.zcard(deadlinesKey(who))).resolves.toBe(2);
    });

    it('removes an entry from both keys', async () => {
      const who = owner();
      const [id, kept] = [storageKey(), storageKey()];
      await backend.indexAdd(who, id, 1, 60);
      await backend.indexAdd(who, kept, 1, 60);
      await backend.indexRemove(who, id);
      await expect(admin.hkeys(indexKey(who))).resolves.toEqual([kept]);
      await expect(admin.zrange(deadlinesKey(who), 0, '-1')).resolves.toEqual([kept]);
    });

    it('never shortens the lifetime of either key', async () => {
      const who = owner();
      await backend.indexAdd(who, storageKey(), 1, 600);
      await backend.indexAdd(who, storageKey(), 1, 10);
      for (const key of [indexKey(who), deadlinesKey(who)]) {
        await expect(admin.pttl(key)).resolves.toBeGreaterThan(590_000);
      }
    });

    it('still reads entries written by earlier versions (a bare createdAt), and keeps them on add', async () => {
      const who = owner();
      const [old, fresh] = [storageKey(), storageKey()];
      await backend.write(old, { a: 1 }, 60);
      await backend.write(fresh, { a: 1 }, 60);
      await admin.hset(indexKey(who), old, '1700000000000');
      await backend.indexAdd(who, fresh, 5, 60);
      await expect(admin.zscore(deadlinesKey(who), old)).resolves.toBe('inf');
      const list = await backend.indexList(who);
      expect(list.map(({ id, createdAt }) => ({ id, createdAt }))).toEqual(
        expect.arrayContaining([
          { id: old, createdAt: 1700000000000 },
          { id: fresh, createdAt: 5 },
        ]),
      );
      expect(list).toHaveLength(2);
      // Such an entry has no deadline: it goes, from both keys, once its session is gone.
      await backend.destroy(old);
      await expect(backend.indexList(who)).resolves.toHaveLength(1);
      await expect(admin.hkeys(indexKey(who))).resolves.toEqual([fresh]);
      await expect(admin.zrange(deadlinesKey(who), 0, '-1')).resolves.toEqual([fresh]);
    });

    it('brings an index of the previous layout (a hash alone) into the sorted set on its next add', async () => {
      const who = owner();
      const [ended, live, fresh] = [storageKey(), storageKey(), storageKey()];
      const now = Date.now();
      await admin.hset(indexKey(who), ended, `1:${now - 1000}`, live, `2:${now + 60_000}`);
      await backend.indexAdd(who, fresh, 3, 60);
      await expect(admin.hkeys(indexKey(who)).then((keys) => keys.sort())).resolves.toEqual(
        [live, fresh].sort(),
      );
      await expect(admin.zscore(deadlinesKey(who), live)).resolves.toBe(String(now + 60_000));
      await expect(admin.zcard(deadlinesKey(who))).resolves.toBe(2);
    });

    it('keeps an entry that an earlier version added again to the hash alone, at its later deadline', async () => {
      // A rolling deploy: an instance not yet upgraded refreshes the entry
      // in the hash only, so the sorted set still holds the older deadline.
      const who = owner();
      const [refreshed, other] = [storageKey(), storageKey()];
      await backend.indexAdd(who, other, 2, 60);
      await backend.indexAdd(who, refreshed, 1, 0.1);
      const later = Date.now() + 60_000;
      await admin.hset(indexKey(who), refreshed, `1:${later}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await backend.indexAdd(who, other, 2, 60);
      await expect(admin.hget(indexKey(who), refreshed)).resolves.toBe(`1:${later}`);
      await expect(admin.zscore(deadlinesKey(who), refreshed)).resolves.toBe(String(later));
    });

    it('drops from the sorted set an entry whose hash field is gone', async () => {
      const who = owner();
      const [orphan, other] = [storageKey(), storageKey()];
      await backend.indexAdd(who, other, 2, 60);
      await backend.indexAdd(who, orphan, 1, 0.1);
      await admin.hdel(indexKey(who), orphan);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await backend.indexAdd(who, other, 2, 60);
      await expect(admin.zrange(deadlinesKey(who), 0, '-1')).resolves.toEqual([other]);
    });
  });

  describe('clients', () => {
    it('leaves a client it was given open on close()', async () => {
      const client = adminClient();
      const borrowing = new RedisBackend({ client, prefix });
      await borrowing.write(storageKey(), { a: 1 }, 60);
      await borrowing.close();
      expect(client.status).toBe('ready');
      await expect(client.ping()).resolves.toBe('PONG');
      client.disconnect();
    });

    it('closes the connection it opened, and then rejects calls', async () => {
      const owning = new RedisBackend({ url: redisUrl(), prefix });
      await owning.write(storageKey(), { a: 1 }, 60);
      await owning.close();
      await expect(owning.read(storageKey())).rejects.toThrow(/closed/);
    });

    it('honours a client keyPrefix, in clear() too', async () => {
      const client = new Redis(redisUrl(), { keyPrefix: 'kp-app:' });
      const prefixed = new RedisBackend({ client, prefix });
      const id = storageKey();
      await prefixed.write(id, { a: 1 }, 60);
      await expect(admin.exists(`kp-app:${prefix}${id}`)).resolves.toBe(1);
      await prefixed.clear();
      await expect(admin.exists(`kp-app:${prefix}${id}`)).resolves.toBe(0);
      client.disconnect();
    });

    it('rejects an empty prefix, which would make clear() remove everything', () => {
      expect(() => new RedisBackend({ prefix: '', client: admin })).toThrow(/prefix/);
    });

    it('escapes glob characters of the prefix in clear()', async () => {
      const globby = new RedisBackend({ client: admin, prefix: `${prefix}[g*]?:` });
      const lookalike = `${prefix}gx:${storageKey()}`;
      await admin.set(lookalike, 'keep', 'EX', 60);
      await globby.write(storageKey(), { a: 1 }, 60);
      await globby.clear();
      await expect(admin.exists(lookalike)).resolves.toBe(1);
      await expect(admin.keys(`${prefix}\\[g\\*\\]\\?:*`)).resolves.toEqual([]);
      await admin.del(lookalike);
    });
  });
});

/** Calls per command, from INFO commandstats. */
async function commandStats(client: Redis): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const stats: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/**
 * Commands Redis ran during `action`, from INFO commandstats (which also
 * counts the commands a Lua script or a MULTI runs).
 */
async function commandsDuring(client: Redis, action: () => Promise<unknown>) {
  const before = await commandStats(client);
  await action();
  const after = await commandStats(client);
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const diff = calls - (before[name] ?? 0);
    if (diff > 0 && name !== 'info') delta[name] = diff;
  }
  return delta;
}

/** Resolves once `check` holds, polling every 10 ms for at most 2 s. */
async function until(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 2000) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Round trips `action` makes on the backend's connection: how many times it
 * writes to the socket (a MULTI/EXEC or a pipeline is one write), checking
 * that it never waited for a reply in between.
 */
async function roundTripsDuring(backend: RedisBackend, action: () => Promise<unknown>) {
  const { stream } = (backend as unknown as { connection: { client: Redis } }).connection.client;
  const write = jest.spyOn(stream, 'write');
  try {
    await action();
    return write.mock.calls.length;
  } finally {
    write.mockRestore();
  }
}

describe('RedisBackend round trips (own redis-server, so no other suite adds commands)', () => {
  let server: Server;
  let admin: Redis;
  let backend: RedisBackend;
  const id = storageKey();

  beforeAll(async () => {
    server = await startRedis(await freePort());
    admin = new Redis(server.url);
    backend = new RedisBackend({ port: server.port, host: '127.0.0.1' });
    // Warm up: the connection handshake (HELLO, INFO, CLIENT SETINFO) and the
    // first run of each script (EVALSHA, NOSCRIPT, EVAL) happen once, not per request.
    await backend.write(id, { a: 1 }, 60);
    await backend.patch(id, { set: { b: 2 }, unset: [] }, 60);
    await backend.move(id, id, { set: { a: 1 }, unset: [] }, 60);
    await backend.indexAdd('warm-up', id, 1, 60);
  }, 30_000);

  afterAll(async () => {
    await backend?.close();
    admin?.disconnect();
    await server?.stop();
  });

  it('read is one GET', async () => {
    await expect(commandsDuring(admin, () => backend.read(id))).resolves.toEqual({ get: 1 });
  });

  it('readAndTouch is one GETEX', async () => {
    await expect(commandsDuring(admin, () => backend.readAndTouch(id, 60))).resolves.toEqual({
      getex: 1,
    });
  });

  it('write is one SET', async () => {
    await expect(commandsDuring(admin, () => backend.write(id, { a: 1 }, 60))).resolves.toEqual({
      set: 1,
    });
  });

  it('touch is one EXPIRE', async () => {
    await expect(commandsDuring(admin, () => backend.touch(id, 60))).resolves.toEqual({
      expire: 1,
    });
  });

  it('patch is one EVALSHA (its GET and SET run inside Redis, not as round trips)', async () => {
    // commandstats also counts the commands a script runs, so the GET and SET
    // the Lua script issues show up here. What the client sends, and waits
    // for, is the single EVALSHA.
    await expect(
      commandsDuring(admin, () => backend.patch(id, { set: { c: 3 }, unset: ['a'] }, 60)),
    ).resolves.toEqual({ evalsha: 1, get: 1, set: 1 });
  });

  it('destroy is one UNLINK', async () => {
    await expect(commandsDuring(admin, () => backend.destroy(id))).resolves.toEqual({ unlink: 1 });
  });

  it('move is one EVALSHA (an atomic script moving what is stored, with the delta)', async () => {
    const [oldId, newId] = [storageKey(), storageKey()];
    await backend.write(oldId, { a: 1, other: 'kept' }, 60);
    await expect(
      commandsDuring(admin, () => backend.move(oldId, newId, { set: { a: 1 }, unset: [] }, 60)),
    ).resolves.toEqual({ evalsha: 1, get: 1, set: 1, unlink: 1 });
    await expect(backend.read(newId)).resolves.toEqual({ a: 1, other: 'kept' });
    await expect(
      roundTripsDuring(backend, () =>
        backend.move(newId, storageKey(), { set: { a: 1 }, unset: [] }, 60),
      ),
    ).resolves.toBe(1);
  });

  it('a move whose old record is gone writes nothing', async () => {
    await expect(
      commandsDuring(admin, () =>
        backend.move(storageKey(), storageKey(), { set: { a: 1 }, unset: [] }, 60),
      ),
    ).resolves.toEqual({ evalsha: 1, get: 1 });
  });

  it('(the round-trip measure counts one write per command sent on its own)', async () => {
    await expect(
      roundTripsDuring(backend, () => Promise.all([backend.read(id), backend.destroy(id)])),
    ).resolves.toBe(2);
  });

  it('indexAdd is one EVALSHA', async () => {
    await expect(
      roundTripsDuring(backend, () => backend.indexAdd('owner', storageKey(), 1, 60)),
    ).resolves.toBe(1);
  });

  it('indexAdd on an index of 20,000 live entries reads none of them: it touches only the ended ones', async () => {
    const owner = storageKey();
    const live = Array.from({ length: 20_000 }, storageKey);
    const ended = Array.from({ length: 3 }, storageKey);
    const [indexKey, deadlinesKey] = [`session:user:{${owner}}`, `session:user:{${owner}}:d`];
    // The live entries as indexAdd writes them, loaded in bulk (20,000 scripts
    // at once would only test how fast this machine queues them).
    const deadline = Date.now() + 600_000;
    for (let i = 0; i < live.length; i += 1000) {
      const batch = live.slice(i, i + 1000);
      await admin.hset(indexKey, Object.fromEntries(batch.map((id) => [id, `1:${deadline}`])));
      await admin.zadd(deadlinesKey, ...batch.flatMap((id) => [deadline, id]));
    }
    // ...and the lifetime indexAdd gives both keys (at least the entries').
    await admin.pexpire(indexKey, 600_000);
    await admin.pexpire(deadlinesKey, 600_000);
    for (const each of ended) await backend.indexAdd(owner, each, 1, 0.05);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // MONITOR shows the commands the script runs, with their arguments.
    const monitor = await admin.monitor();
    const ran: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => ran.push(args));
    const commands = await commandsDuring(admin, () =>
      backend.indexAdd(owner, storageKey(), 1, 600),
    );
    await admin.echo('done');
    await until(() => ran.some(([name, text]) => name === 'echo' && text === 'done'));
    monitor.disconnect();
    // The hash is never read whole: one range query on the sorted set finds
    // the ended entries, their hash values are checked, and only those go.
    expect(commands).toEqual({
      evalsha: 1,
      hlen: 1,
      zcard: 1,
      zrangebyscore: 1,
      hmget: 1,
      // From the hash and the descriptions.
      hdel: 2,
      zrem: 1,
      hset: 1,
      zadd: 1,
      pttl: 3,
      // The three keys extended to the new entry's lifetime.
      pexpire: 3,
    });
    const argsOf = (name: string) => ran.find(([each]) => each.toLowerCase() === name)!.slice(2);
    expect(argsOf('hdel').sort()).toEqual([...ended].sort());
    expect(ran.filter(([each]) => each.toLowerCase() === 'hdel')).toHaveLength(2);
    expect(argsOf('zrem').sort()).toEqual([...ended].sort());
    await expect(admin.hlen(indexKey)).resolves.toBe(20_001);
    await expect(admin.zcard(deadlinesKey)).resolves.toBe(20_001);
    await admin.unlink(indexKey, deadlinesKey);
  }, 30_000);

  it('indexDestroy of 20 sessions is one round trip: one UNLINK of every record, an HDEL per hash and one ZREM', async () => {
    const owner = storageKey();
    const ids = Array.from({ length: 20 }, storageKey);
    for (const each of ids) {
      await backend.write(each, { a: 1 }, 60);
      await backend.indexAdd(owner, each, 1, 60);
    }
    const [indexKey, deadlinesKey] = [`session:user:{${owner}}`, `session:user:{${owner}}:d`];
    await expect(admin.hlen(indexKey)).resolves.toBe(20);
    await expect(admin.zcard(deadlinesKey)).resolves.toBe(20);
    const commands = await commandsDuring(admin, async () => {
      await expect(roundTripsDuring(backend, () => backend.indexDestroy(owner, ids))).resolves.toBe(
        1,
      );
    });
    expect(commands).toEqual({ multi: 1, unlink: 1, hdel: 2, zrem: 1, exec: 1 });
    await expect(admin.exists(...ids.map((each) => `session:${each}`))).resolves.toBe(0);
    await expect(admin.exists(indexKey, deadlinesKey)).resolves.toBe(0);
  });
});

describe('RedisBackend when Redis is down', () => {
  const started: Server[] = [];
  const backends: RedisBackend[] = [];

  afterEach(async () => {
    await Promise.all(backends.splice(0).map((backend) => backend.close()));
    await Promise.all(started.splice(0).map((server) => server.stop()));
  });

  async function start(port: number) {
    const server = await startRedis(port);
    started.push(server);
    return server;
  }

  async function stop(server: Server) {
    started.splice(started.indexOf(server), 1);
    await server.stop();
  }

  async function everyCallRejectsPromptly(backend: RedisBackend) {
    const calls: [string, () => Promise<unknown>][] = [
      ['read', () => backend.read(storageKey())],
      ['readAndTouch', () => backend.readAndTouch(storageKey(), 60)],
      ['write', () => backend.write(storageKey(), { a: 1 }, 60)],
      ['touch', () => backend.touch(storageKey(), 60)],
      ['patch', () => backend.patch(storageKey(), { set: { a: 1 }, unset: [] }, 60)],
      ['move', () => backend.move(storageKey(), storageKey(), { set: { a: 1 }, unset: [] }, 60)],
      ['destroy', () => backend.destroy(storageKey())],
      ['clear', () => backend.clear()],
    ];
    const started = Date.now();
    const outcomes = await Promise.all(
      calls.map(async ([name, call]) => {
        const t0 = Date.now();
        // ioredis errors come from outside Jest's module realm: no instanceof Error.
        const rejected = await call().then(
          () => false,
          (reason: { message?: unknown }) => typeof reason.message === 'string',
        );
        return { name, rejected, ms: Date.now() - t0 };
      }),
    );
    for (const outcome of outcomes) {
      expect(outcome).toEqual({ name: outcome.name, rejected: true, ms: expect.any(Number) });
      expect(outcome.ms).toBeLessThan(3000);
    }
    expect(Date.now() - started).toBeLessThan(3000);
  }

  async function eventuallySucceeds(backend: RedisBackend) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const id = storageKey();
        await backend.write(id, { back: true }, 60);
        return await backend.read(id);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  it('starts without Redis (no throw, no blocking), fails fast, and recovers when Redis appears', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const backend = new RedisBackend({ host: '127.0.0.1', port, commandTimeout: 1000 });
    backends.push(backend);
    expect(Date.now() - t0).toBeLessThan(100);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    await everyCallRejectsPromptly(backend);
    await expect(backend.read(storageKey())).rejects.toThrow(/ECONNREFUSED|not reachable/);
    await start(port);
    await expect(eventuallySucceeds(backend)).resolves.toEqual({ back: true });
  }, 30_000);

  it('rejects promptly while Redis is gone and recovers on the same port without a new backend', async () => {
    const port = await freePort();
    const server = await start(port);
    const backend = new RedisBackend({ host: '127.0.0.1', port });
    backends.push(backend);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const id = storageKey();
    await backend.write(id, { a: 1 }, 60);
    await expect(backend.read(id)).resolves.toEqual({ a: 1 });

    await stop(server);
    await everyCallRejectsPromptly(backend);
    // A second wave, while ioredis keeps reconnecting, is just as prompt.
    await everyCallRejectsPromptly(backend);
    expect(warn).toHaveBeenCalled();

    await start(port);
    await expect(eventuallySucceeds(backend)).resolves.toEqual({ back: true });
    await expect(backend.patch(id, { set: { b: 1 }, unset: [] }, 60)).resolves.toBe(false);
  }, 30_000);
});
