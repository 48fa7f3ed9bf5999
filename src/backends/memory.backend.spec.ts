import { jest } from '@jest/globals';
import { MemoryBackend } from './memory.backend.js';
import type { SessionData } from './session-backend.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `count` sessions that are never used again, the way cookie-less requests do. */
async function flood(backend: MemoryBackend, count: number, prefix = 'flood'): Promise<void> {
  for (let i = 0; i < count; i += 1) await backend.write(`${prefix}${i}`, { csrf: i }, 60);
}

describe('MemoryBackend', () => {
  it('evicts the least recently used session past maxSessions', async () => {
    const backend = new MemoryBackend({ maxSessions: 3 });
    for (const id of ['a', 'b', 'c']) await backend.write(id, { id }, 60);
    await backend.read('a'); // a is now the most recently used
    await backend.write('d', { id: 'd' }, 60);
    expect(backend.size).toBe(3);
    expect(await backend.read('b')).toBeNull();
    expect(await backend.read('a')).toEqual({ id: 'a' });
    expect(await backend.read('d')).toEqual({ id: 'd' });
    await backend.close();
  });

  it('stays bounded under many writes', async () => {
    const backend = new MemoryBackend({ maxSessions: 100 });
    for (let i = 0; i < 5000; i += 1) await backend.write(`s${i}`, { i }, 60);
    expect(backend.size).toBe(100);
    expect(await backend.read('s4999')).toEqual({ i: 4999 });
    await backend.close();
  });

  it('sweeps expired sessions', async () => {
    const backend = new MemoryBackend();
    await backend.write('short', { a: 1 }, 0.05);
    await backend.write('long', { a: 2 }, 60);
    await new Promise((resolve) => setTimeout(resolve, 80));
    backend.sweep();
    expect(backend.size).toBe(1);
    await backend.close();
  });

  describe('segmented eviction', () => {
    it('keeps a session used again through a flood of sessions never used again', async () => {
      const backend = new MemoryBackend({ maxSessions: 100 });
      await backend.write('user', { userId: 1 }, 60);
      await backend.read('user');
      await flood(backend, 1000);
      expect(backend.size).toBeLessThanOrEqual(100);
      expect(await backend.read('user')).toEqual({ userId: 1 });
      await backend.close();
    });

    it('counts readAndTouch as a use', async () => {
      const backend = new MemoryBackend({ maxSessions: 100 });
      await backend.write('user', { userId: 1 }, 60);
      await backend.readAndTouch('user', 60);
      await flood(backend, 1000);
      expect(await backend.read('user')).not.toBeNull();
      await backend.close();
    });

    // The request that created a session may save it more than once (a
    // regenerate, then a change): none of that is a return.
    it.each([
      ['writing it again', (b: MemoryBackend) => b.write('once', { a: 2 }, 60)],
      ['touch', (b: MemoryBackend) => b.touch('once', 60)],
      ['patch', (b: MemoryBackend) => b.patch('once', { set: { a: 1 }, unset: [] }, 60)],
    ])('does not count %s as a use', async (_name, save) => {
      const backend = new MemoryBackend({ maxSessions: 100 });
      await backend.write('once', { a: 1 }, 60);
      await save(backend);
      await flood(backend, 1000);
      expect(await backend.read('once')).toBeNull();
      await backend.close();
    });

    it('evicts expired sessions before unused ones', async () => {
      const backend = new MemoryBackend({ maxSessions: 3 });
      await backend.write('expiring', {}, 0.05);
      await backend.write('a', {}, 60);
      await backend.write('b', {}, 60);
      await sleep(80);
      await backend.write('c', {}, 60);
      expect(backend.size).toBe(3);
      for (const id of ['a', 'b', 'c']) expect(await backend.read(id)).not.toBeNull();
      await backend.close();
    });

    it('protects at most 80% of maxSessions, moving its least recently used back to probation', async () => {
      const backend = new MemoryBackend({ maxSessions: 10 });
      for (let i = 0; i < 10; i += 1) {
        await backend.write(`p${i}`, { i }, 60);
        await backend.read(`p${i}`);
      }
      await flood(backend, 100);
      expect(backend.size).toBe(10);
      const survivors: string[] = [];
      for (let i = 0; i < 10; i += 1) if (await backend.read(`p${i}`)) survivors.push(`p${i}`);
      expect(survivors).toEqual(['p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
      await backend.close();
    });

    it('gives a demoted session a second chance when it is used again', async () => {
      const backend = new MemoryBackend({ maxSessions: 10 });
      for (let i = 0; i < 9; i += 1) {
        await backend.write(`p${i}`, { i }, 60);
        await backend.read(`p${i}`);
      }
      // p0 was demoted when p8 was promoted; using it again protects it again (demoting p1).
      await backend.read('p0');
      await flood(backend, 100);
      expect(await backend.read('p0')).not.toBeNull();
      expect(await backend.read('p1')).toBeNull();
      await backend.close();
    });

    it('frees a protected place when a protected session ends', async () => {
      const backend = new MemoryBackend({ maxSessions: 10 });
      for (let i = 0; i < 8; i += 1) {
        await backend.write(`old${i}`, {}, 60);
        await backend.read(`old${i}`);
      }
      for (let i = 0; i < 4; i += 1) await backend.destroy(`old${i}`);
      await backend.indexDestroy('owner', ['old4', 'old5']);
      await backend.move('old6', 'renamed', { set: {}, unset: [] }, 60);
      for (let i = 0; i < 5; i += 1) {
        await backend.write(`new${i}`, {}, 60);
        await backend.read(`new${i}`);
      }
      await flood(backend, 100);
      for (const id of ['old7', 'renamed', 'new0', 'new1', 'new2', 'new3', 'new4']) {
        expect([id, await backend.read(id)]).toEqual([id, {}]);
      }
      await backend.close();
    });
  });

  describe('move', () => {
    it('moves the record, keeping it protected', async () => {
      const backend = new MemoryBackend({ maxSessions: 100 });
      await backend.write('old', { a: 1 }, 60);
      await backend.read('old');
      await expect(backend.move('old', 'new', { set: { a: 2 }, unset: [] }, 60)).resolves.toBe(
        true,
      );
      await flood(backend, 1000);
      expect(await backend.read('old')).toBeNull();
      expect(await backend.read('new')).toEqual({ a: 2 });
      await backend.close();
    });

    it('returns false and writes nothing when the old record is missing', async () => {
      const backend = new MemoryBackend();
      await expect(backend.move('missing', 'new', { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
        false,
      );
      expect(await backend.read('new')).toBeNull();
      expect(backend.size).toBe(0);
    });

    it('returns false and writes nothing when the old record expired', async () => {
      const backend = new MemoryBackend();
      await backend.write('old', { a: 1 }, 0.05);
      await sleep(80);
      await expect(backend.move('old', 'new', { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
        false,
      );
      expect(await backend.read('new')).toBeNull();
      expect(backend.size).toBe(0);
      await backend.close();
    });
  });

  describe('patch', () => {
    it('sets and removes a key named __proto__ as plain data', async () => {
      const backend = new MemoryBackend();
      await backend.write('id', { ok: 1 }, 60);
      const set = JSON.parse('{"__proto__":{"polluted":true}}') as SessionData;
      await expect(backend.patch('id', { set, unset: [] }, 60)).resolves.toBe(true);
      const back = (await backend.read('id'))!;
      expect(Object.keys(back).sort()).toEqual(['__proto__', 'ok']);
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(back, '__proto__')!.value).toEqual({ polluted: true });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      await backend.patch('id', { set: {}, unset: ['__proto__'] }, 60);
      expect(Object.keys((await backend.read('id'))!)).toEqual(['ok']);
      await backend.close();
    });
  });

  describe('user index', () => {
    const ids = (list: { id: string }[]) => list.map((entry) => entry.id).sort();

    it('ends sessions with indexDestroy, records and entries alike', async () => {
      const backend = new MemoryBackend();
      for (const id of ['a', 'b', 'c']) {
        await backend.write(id, { id }, 60);
        await backend.indexAdd('owner', id, 1, 120);
      }
      await backend.indexDestroy('owner', ['a', 'b', 'unknown']);
      expect(await backend.read('a')).toBeNull();
      expect(await backend.read('b')).toBeNull();
      expect(ids(await backend.indexList('owner'))).toEqual(['c']);
      await backend.indexDestroy('owner', ['c']);
      await backend.indexDestroy('nobody', ['x']);
      expect(await backend.indexList('owner')).toEqual([]);
      expect(backend.size).toBe(0);
      await backend.close();
    });

    it('ignores entries past their deadline even while the session lives', async () => {
      const backend = new MemoryBackend();
      await backend.write('a', {}, 60);
      await backend.write('b', {}, 60);
      await backend.indexAdd('owner', 'a', 1, 0.05);
      await backend.indexAdd('owner', 'b', 2, 60);
      await sleep(80);
      expect(ids(await backend.indexList('owner'))).toEqual(['b']);
      await backend.close();
    });

    it('adding again moves the deadline', async () => {
      const backend = new MemoryBackend();
      await backend.write('a', {}, 60);
      await backend.indexAdd('owner', 'a', 1, 0.05);
      await backend.indexAdd('owner', 'a', 1, 60);
      await sleep(80);
      expect(await backend.indexList('owner')).toEqual([
        { id: 'a', createdAt: 1, expiresAt: expect.any(Number), seenAt: expect.any(Number) },
      ]);
      await backend.close();
    });

    it('drops ended, expired and overdue entries of the owner when adding one', async () => {
      let now = Date.now();
      const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
      try {
        const backend = new MemoryBackend();
        await backend.write('destroyed', {}, 3600);
        await backend.write('expired', {}, 1);
        await backend.write('overdue', {}, 3600);
        await backend.write('alive', {}, 3600);
        await backend.indexAdd('owner', 'destroyed', 1, 3600);
        await backend.indexAdd('owner', 'expired', 1, 3600);
        await backend.indexAdd('owner', 'overdue', 1, 1);
        await backend.indexAdd('owner', 'alive', 1, 3600);
        await backend.indexAdd('other', 'destroyed', 1, 3600);
        await backend.destroy('destroyed');
        now += 2_000;
        // Past its deadline: gone at once. Ended moments ago: kept a little
        // while (a record may be on its way), but never listed while missing.
        await backend.write('new', {}, 3600);
        await backend.indexAdd('owner', 'new', 1, 3600);
        expect(ids(await backend.indexList('owner'))).toEqual(['alive', 'new']);
        await backend.write('overdue', {}, 3600);
        expect(ids(await backend.indexList('owner'))).toEqual(['alive', 'new']);
        now += 11_000;
        await backend.indexAdd('owner', 'new', 1, 3600);
        // Records written again under the same keys do not bring the dropped entries back.
        for (const id of ['destroyed', 'expired']) await backend.write(id, {}, 3600);
        expect(ids(await backend.indexList('owner'))).toEqual(['alive', 'new']);
        // Another owner's index is left to its own next add or list.
        expect(ids(await backend.indexList('other'))).toEqual(['destroyed']);
        await backend.close();
      } finally {
        clock.mockRestore();
      }
    });

    it('keeps a fresh entry whose record is not written yet', async () => {
      const backend = new MemoryBackend();
      // The module indexes a session just before writing it; another add
      // for the same user in between must not drop it.
      await backend.indexAdd('owner', 'on-its-way', 1, 3600);
      await backend.indexAdd('owner', 'other', 1, 3600);
      await backend.write('on-its-way', {}, 3600);
      expect(ids(await backend.indexList('owner'))).toEqual(['on-its-way']);
      await backend.close();
    });
  });

  it.each([
    [{ maxSessions: 0 }, /maxSessions/],
    [{ maxSessions: 1.5 }, /maxSessions/],
    [{ sweepIntervalSeconds: 0 }, /sweepIntervalSeconds/],
  ])('refuses invalid options %j', (options, message) => {
    expect(() => new MemoryBackend(options)).toThrow(message);
  });
});
