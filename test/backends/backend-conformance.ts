// One set of specs that every backend must pass (memory, Redis, Redis Cluster
// and the minimal custom backend), the way Spring Session reuses one abstract
// test class per store.
import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { SessionBackend, SessionData } from '../../src/backends/session-backend.js';

/**
 * Optional capabilities a backend declares; the suite checks the declaration
 * is true. `index` covers the whole user index, `indexDestroy` included.
 * `unreadable` is a property of the target rather than of the backend: it
 * provides `corrupt` and `stored`, so the suite can check what the backend does
 * with a record it cannot decode.
 */
export type Capability = 'readAndTouch' | 'patch' | 'move' | 'close' | 'index' | 'unreadable';

/** What a spec file hands the suite. */
export interface ConformanceTarget {
  backend: SessionBackend;
  /**
   * Stores something this backend does not own (another prefix, another
   * backend) and later tells whether it is still there: `clear()` must spare it.
   */
  foreign?: { put(): Promise<void>; survives(): Promise<boolean> };
  /** Stores, under `id`, something the backend cannot decode (for `unreadable`). */
  corrupt?(id: string): Promise<void>;
  /** Whether anything at all is stored under `id`, readable or not (for `unreadable`). */
  stored?(id: string): Promise<boolean>;
  /** Releases what `setup` opened (connections, servers). */
  teardown?(): Promise<void>;
}

/** A fresh storage key: 43 base64url characters, like a SHA-256 digest. */
export function storageKey(): string {
  return randomBytes(32).toString('base64url');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Values chosen to break naive encoders (cjson, re-stringifying, lossy numbers). */
export const TRICKY: SessionData = {
  nested: { a: { b: { c: [1, 2, { d: null }] } }, empty: {} },
  emptyArray: [],
  emptyObject: {},
  arrayOfEmpties: [[], {}, ''],
  unicode: 'héllo wörld ✓ 日本語 😀 \u2028\u2029',
  quotes: 'She said "hi" and \'bye\' \\ back\\slash \\"escaped\\" / slash \n\t\r',
  controls: '\u0000\u0001\u001f\u007f',
  maxSafe: Number.MAX_SAFE_INTEGER,
  minSafe: Number.MIN_SAFE_INTEGER,
  float: 0.1 + 0.2,
  tiny: 5e-324,
  negativeZeroish: -0.5,
  bool: false,
  nil: null,
  numericKeys: { '1': 'one', '0': 'zero' },
  '': 'empty key',
  'key with spaces and "quotes"': 1,
  __proto__key: 'x',
};

/**
 * Strings that break encoders: lone UTF-16 surrogates (which cjson and UTF-8
 * conversions reject or replace), line and paragraph separators, NUL, emoji.
 */
export const ODD_STRINGS: readonly string[] = [
  '\ud83d',
  '\ude00',
  '\ude00\ud83d',
  'a\ud83db\ude00c\udbff',
  '\u2028\u2029',
  '\u0000',
  'nul\u0000inside',
  'ends in a backslash \\',
  '\\"\\\\"",:}{',
  '😀👍🏽',
];

/** A 1 MiB string (2^20 UTF-16 units) dense with quotes, backslashes and non-ASCII. */
export const MEBIBYTE_STRING = 'ab"\\cd\né'.repeat(2 ** 17);

/** Arrays nested `depth` levels deep around one string. */
export function deepArray(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

/**
 * Session data holding every odd string as a value, inside nested values and
 * as key names, plus a 1 MiB string and arrays nested 2,000 levels deep
 * (deeper than cjson's limit of 1,000).
 */
export function oddData(): SessionData {
  const data: SessionData = {
    odd: [...ODD_STRINGS],
    nested: {
      deeper: { list: [...ODD_STRINGS] },
      named: Object.fromEntries(ODD_STRINGS.map((s, i) => [s, i])),
    },
    big: MEBIBYTE_STRING,
    deep: deepArray(2000),
  };
  ODD_STRINGS.forEach((text, i) => {
    data[`value${i}`] = text;
    data[text] = `named ${i}`;
  });
  return data;
}

/**
 * `toEqual` for session data that may hold `deep` (too deep for Jest's
 * recursive comparison, so compared by its JSON text).
 */
export function expectSameData(actual: SessionData | null, expected: SessionData): void {
  expect(actual).not.toBeNull();
  const { deep: actualDeep, ...actualRest } = actual!;
  const { deep: expectedDeep, ...expectedRest } = expected;
  expect(actualRest).toEqual(expectedRest);
  expect(Object.keys(actual!).sort()).toEqual(Object.keys(expected).sort());
  expect(JSON.stringify(actualDeep)).toBe(JSON.stringify(expectedDeep));
}

/**
 * Defines the conformance specs for one backend. `setup` runs once (in
 * beforeAll) and may start servers; `capabilities` lists the optional methods
 * the backend has, and the suite fails if the list is wrong.
 */
export function describeBackendConformance(
  name: string,
  setup: () => Promise<ConformanceTarget>,
  capabilities: readonly Capability[],
): void {
  const has = (capability: Capability) => capabilities.includes(capability);

  describe(`${name} backend conformance`, () => {
    let target: ConformanceTarget;
    let backend: SessionBackend;

    beforeAll(async () => {
      target = await setup();
      backend = target.backend;
    }, 60_000);

    afterAll(async () => {
      if (!target) return;
      await backend.clear();
      await target.teardown?.();
    }, 30_000);

    it('has exactly the optional capabilities it declares', () => {
      for (const capability of ['readAndTouch', 'patch', 'move', 'close'] as const) {
        expect([capability, typeof backend[capability] === 'function']).toEqual([
          capability,
          has(capability),
        ]);
      }
    });

    it('has the user index exactly when it declares it', () => {
      const methods = ['indexAdd', 'indexRemove', 'indexList', 'indexDestroy'] as const;
      for (const method of methods) {
        expect([method, typeof backend[method] === 'function']).toEqual([method, has('index')]);
      }
    });

    it('reads null for a record that was never written', async () => {
      await expect(backend.read(storageKey())).resolves.toBeNull();
    });

    it('reads back what it wrote, and a second write replaces the first', async () => {
      const id = storageKey();
      await backend.write(id, { userId: '123', roles: ['admin'] }, 60);
      await expect(backend.read(id)).resolves.toEqual({ userId: '123', roles: ['admin'] });
      await backend.write(id, { userId: '456' }, 60);
      await expect(backend.read(id)).resolves.toEqual({ userId: '456' });
    });

    it('keeps records apart by id', async () => {
      const [a, b] = [storageKey(), storageKey()];
      await backend.write(a, { who: 'a' }, 60);
      await backend.write(b, { who: 'b' }, 60);
      await expect(backend.read(a)).resolves.toEqual({ who: 'a' });
      await expect(backend.read(b)).resolves.toEqual({ who: 'b' });
    });

    it('round-trips values exactly', async () => {
      const id = storageKey();
      await backend.write(id, TRICKY, 60);
      const back = await backend.read(id);
      expect(back).toEqual(TRICKY);
      expect(Object.keys(back!).sort()).toEqual(Object.keys(TRICKY).sort());
      expect(back!.maxSafe).toBe(Number.MAX_SAFE_INTEGER);
      expect(Array.isArray(back!.emptyArray)).toBe(true);
      expect(Array.isArray(back!.emptyObject)).toBe(false);
    });

    it('round-trips every JavaScript string, as values, inside nested values and as key names', async () => {
      const id = storageKey();
      const data = oddData();
      await backend.write(id, data, 60);
      expectSameData(await backend.read(id), data);
    });

    it('keeps a key named __proto__ as plain data', async () => {
      const id = storageKey();
      const data = JSON.parse('{"__proto__":{"polluted":true},"ok":1}') as SessionData;
      await backend.write(id, data, 60);
      const back = await backend.read(id);
      expect(Object.keys(back!).sort()).toEqual(['__proto__', 'ok']);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('returns copies: mutating what was written or read does not change the store', async () => {
      const id = storageKey();
      const data = { profile: { name: 'Ann', tags: ['a'] } };
      await backend.write(id, data, 60);
      data.profile.tags.push('written');
      const first = (await backend.read(id)) as typeof data;
      first.profile.name = 'Changed';
      first.profile.tags.push('read');
      await expect(backend.read(id)).resolves.toEqual({ profile: { name: 'Ann', tags: ['a'] } });
    });

    it('destroys a record, and destroying a missing one is not an error', async () => {
      const id = storageKey();
      await backend.write(id, { a: 1 }, 60);
      await backend.destroy(id);
      await expect(backend.read(id)).resolves.toBeNull();
      await expect(backend.destroy(storageKey())).resolves.toBeUndefined();
    });

    it('touching a missing record does not create it', async () => {
      const id = storageKey();
      await backend.touch(id, 60);
      await expect(backend.read(id)).resolves.toBeNull();
    });

    it('expires records after their TTL, and touch (and readAndTouch) extend it', async () => {
      const [expiring, touched, readTouched] = [storageKey(), storageKey(), storageKey()];
      await backend.write(expiring, { a: 1 }, 1);
      await backend.write(touched, { b: 2 }, 1);
      await backend.write(readTouched, { c: 3 }, 1);
      await backend.touch(touched, 10);
      if (has('readAndTouch')) {
        await expect(backend.readAndTouch!(readTouched, 10)).resolves.toEqual({ c: 3 });
      } else {
        await backend.touch(readTouched, 10);
      }
      await expect(backend.read(expiring)).resolves.toEqual({ a: 1 });
      await sleep(1200);
      await expect(backend.read(expiring)).resolves.toBeNull();
      await expect(backend.read(touched)).resolves.toEqual({ b: 2 });
      await expect(backend.read(readTouched)).resolves.toEqual({ c: 3 });
    });

    it('clear() removes every session of this backend and nothing else', async () => {
      const ids = Array.from({ length: 40 }, storageKey);
      await Promise.all(ids.map((id, i) => backend.write(id, { i }, 60)));
      await target.foreign?.put();
      await backend.clear();
      const after = await Promise.all(ids.map((id) => backend.read(id)));
      expect(after.filter((record) => record !== null)).toEqual([]);
      if (target.foreign) await expect(target.foreign.survives()).resolves.toBe(true);
    });

    if (has('readAndTouch'))
      describe('readAndTouch', () => {
        it('returns the record (a copy) and null for a missing one', async () => {
          const id = storageKey();
          await backend.write(id, TRICKY, 60);
          const back = await backend.readAndTouch!(id, 60);
          expect(back).toEqual(TRICKY);
          (back!.nested as Record<string, unknown>).a = 'changed';
          await expect(backend.read(id)).resolves.toEqual(TRICKY);
          await expect(backend.readAndTouch!(storageKey(), 60)).resolves.toBeNull();
        });

        it('round-trips every JavaScript string', async () => {
          const id = storageKey();
          const data = oddData();
          await backend.write(id, data, 60);
          expectSameData(await backend.readAndTouch!(id, 60), data);
        });
      });

    if (has('patch'))
      describe('patch (delta writes)', () => {
        it('sets and removes the given keys and keeps the others', async () => {
          const id = storageKey();
          await backend.write(id, { keep: [1], drop: 'x', change: 1 }, 60);
          await expect(
            backend.patch!(id, { set: { change: { to: [] }, added: TRICKY }, unset: ['drop'] }, 60),
          ).resolves.toBe(true);
          await expect(backend.read(id)).resolves.toEqual({
            keep: [1],
            change: { to: [] },
            added: TRICKY,
          });
        });

        it('sets and removes values and key names made of any JavaScript string', async () => {
          const id = storageKey();
          await backend.write(id, { base: 1, [ODD_STRINGS[0]]: 'gone soon' }, 60);
          const data = oddData();
          await expect(backend.patch!(id, { set: data, unset: [] }, 60)).resolves.toBe(true);
          expectSameData(await backend.read(id), { base: 1, ...data });

          // Patching a record that already holds them, by odd names.
          const removed = ODD_STRINGS.slice(0, 4);
          const changed = ODD_STRINGS[4];
          await expect(
            backend.patch!(
              id,
              { set: { [changed]: ODD_STRINGS, added: '\ud800' }, unset: removed },
              60,
            ),
          ).resolves.toBe(true);
          const expected: SessionData = {
            base: 1,
            ...data,
            [changed]: ODD_STRINGS,
            added: '\ud800',
          };
          for (const name of removed) delete expected[name];
          expectSameData(await backend.read(id), expected);
        });

        it('returns false and creates nothing when the record is missing', async () => {
          const id = storageKey();
          await expect(backend.patch!(id, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(false);
          await expect(backend.read(id)).resolves.toBeNull();
        });

        it('does not bring back a destroyed session', async () => {
          const id = storageKey();
          await backend.write(id, { a: 1 }, 60);
          await backend.destroy(id);
          await expect(backend.patch!(id, { set: { b: 2 }, unset: [] }, 60)).resolves.toBe(false);
          await expect(backend.read(id)).resolves.toBeNull();
        });

        it('keeps both changes when overlapping patches change different keys', async () => {
          const id = storageKey();
          await backend.write(id, { base: true, gone: 1 }, 60);
          const patches = Array.from({ length: 20 }, (_, i) =>
            backend.patch!(id, { set: { [`k${i}`]: i }, unset: i === 0 ? ['gone'] : [] }, 60),
          );
          await expect(Promise.all(patches)).resolves.toEqual(patches.map(() => true));
          const expected: SessionData = { base: true };
          for (let i = 0; i < 20; i += 1) expected[`k${i}`] = i;
          await expect(backend.read(id)).resolves.toEqual(expected);
        });

        it('a key one patch removed stays removed when another patch sets a different key', async () => {
          const id = storageKey();
          await backend.write(id, { flash: 'hello', user: 'ann' }, 60);
          await Promise.all([
            backend.patch!(id, { set: {}, unset: ['flash'] }, 60),
            backend.patch!(id, { set: { visits: 2 }, unset: [] }, 60),
          ]);
          await expect(backend.read(id)).resolves.toEqual({ user: 'ann', visits: 2 });
        });

        it('applies the TTL it is given', async () => {
          const id = storageKey();
          await backend.write(id, { a: 1 }, 60);
          await backend.patch!(id, { set: { b: 2 }, unset: [] }, 1);
          await sleep(1200);
          await expect(backend.read(id)).resolves.toBeNull();
        });
      });

    if (has('move'))
      describe('move', () => {
        it('moves the stored record with the delta applied and removes the old one, resolving true', async () => {
          const [oldId, newId] = [storageKey(), storageKey()];
          await backend.write(oldId, { a: 1, gone: true, kept: 'other request' }, 60);
          await expect(
            backend.move!(oldId, newId, { set: { a: 2, b: TRICKY }, unset: ['gone'] }, 60),
          ).resolves.toBe(true);
          await expect(backend.read(oldId)).resolves.toBeNull();
          await expect(backend.read(newId)).resolves.toEqual({
            a: 2,
            kept: 'other request',
            b: TRICKY,
          });
        });

        it('applies the TTL it is given', async () => {
          const [oldId, newId] = [storageKey(), storageKey()];
          await backend.write(oldId, { a: 1 }, 60);
          await backend.move!(oldId, newId, { set: {}, unset: [] }, 1);
          await sleep(1200);
          await expect(backend.read(newId)).resolves.toBeNull();
        });

        it('resolves false and writes nothing when the old record never existed', async () => {
          const [oldId, newId] = [storageKey(), storageKey()];
          await expect(backend.move!(oldId, newId, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
            false,
          );
          await expect(backend.read(newId)).resolves.toBeNull();
          await expect(backend.read(oldId)).resolves.toBeNull();
        });

        it('resolves false and writes nothing when the old record was destroyed', async () => {
          const [oldId, newId] = [storageKey(), storageKey()];
          await backend.write(oldId, { a: 1 }, 60);
          await backend.destroy(oldId);
          await expect(backend.move!(oldId, newId, { set: { a: 2 }, unset: [] }, 60)).resolves.toBe(
            false,
          );
          await expect(backend.read(newId)).resolves.toBeNull();
          await expect(backend.read(oldId)).resolves.toBeNull();
        });

        it('round-trips every JavaScript string', async () => {
          const [oldId, newId] = [storageKey(), storageKey()];
          const data = oddData();
          await backend.write(oldId, data, 60);
          await expect(backend.move!(oldId, newId, { set: data, unset: [] }, 60)).resolves.toBe(
            true,
          );
          expectSameData(await backend.read(newId), data);
        });
      });

    if (has('index'))
      describe('user index', () => {
        const owner = () => randomBytes(32).toString('base64url');

        it('lists the live sessions of an owner with their creation and expiry', async () => {
          const [who, other] = [owner(), owner()];
          const [a, b, c] = [storageKey(), storageKey(), storageKey()];
          for (const id of [a, b, c]) await backend.write(id, { id }, 60);
          await backend.indexAdd!(who, a, 1000, 120);
          await backend.indexAdd!(who, b, 2000, 120);
          await backend.indexAdd!(other, c, 3000, 120);
          const list = await backend.indexList!(who);
          expect(list.map((entry) => entry.id).sort()).toEqual([a, b].sort());
          const entryB = list.find((entry) => entry.id === b)!;
          expect(entryB.createdAt).toBe(2000);
          expect(entryB.expiresAt).toBeGreaterThan(Date.now() + 55_000);
          expect(entryB.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
          expect((await backend.indexList!(other)).map((entry) => entry.id)).toEqual([c]);
        });

        it('forgets a removed entry, and an unknown owner has none', async () => {
          const who = owner();
          const id = storageKey();
          await backend.write(id, { a: 1 }, 60);
          await backend.indexAdd!(who, id, 1, 120);
          await backend.indexRemove!(who, id);
          await expect(backend.indexList!(who)).resolves.toEqual([]);
          await expect(backend.indexList!(owner())).resolves.toEqual([]);
        });

        it('drops entries whose sessions were destroyed or expired', async () => {
          const who = owner();
          const [gone, expiring, alive] = [storageKey(), storageKey(), storageKey()];
          await backend.write(gone, { a: 1 }, 60);
          await backend.write(expiring, { a: 1 }, 1);
          await backend.write(alive, { a: 1 }, 60);
          for (const id of [gone, expiring, alive]) await backend.indexAdd!(who, id, 1, 120);
          await backend.destroy(gone);
          await sleep(1200);
          expect((await backend.indexList!(who)).map((entry) => entry.id)).toEqual([alive]);
        });

        it('indexDestroy ends the given sessions with their entries and keeps the others', async () => {
          const [who, other] = [owner(), owner()];
          const ended = Array.from({ length: 5 }, storageKey);
          const [kept, othersOwn] = [storageKey(), storageKey()];
          for (const id of [...ended, kept, othersOwn]) await backend.write(id, { id }, 60);
          for (const id of [...ended, kept]) await backend.indexAdd!(who, id, 1, 120);
          await backend.indexAdd!(other, othersOwn, 1, 120);
          await backend.indexDestroy!(who, ended);
          for (const id of ended) await expect(backend.read(id)).resolves.toBeNull();
          await expect(backend.read(kept)).resolves.toEqual({ id: kept });
          await expect(backend.read(othersOwn)).resolves.toEqual({ id: othersOwn });
          // A record written again under an ended id is not listed: its entry went too.
          await backend.write(ended[0], { back: true }, 60);
          expect((await backend.indexList!(who)).map((entry) => entry.id)).toEqual([kept]);
          expect((await backend.indexList!(other)).map((entry) => entry.id)).toEqual([othersOwn]);
        });

        it('indexDestroy with no ids, or an unknown owner, is not an error', async () => {
          const id = storageKey();
          await backend.write(id, { a: 1 }, 60);
          await expect(backend.indexDestroy!(owner(), [])).resolves.toBeUndefined();
          await expect(backend.indexDestroy!(owner(), [storageKey()])).resolves.toBeUndefined();
          await expect(backend.read(id)).resolves.toEqual({ a: 1 });
        });
      });

    if (has('unreadable'))
      describe('unreadable records', () => {
        beforeEach(() => {
          // Backends of this library log the unreadable record; keep the test output quiet.
          jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
        });
        afterEach(() => jest.restoreAllMocks());

        async function unreadable(): Promise<string> {
          const id = storageKey();
          await target.corrupt!(id);
          await expect(target.stored!(id)).resolves.toBe(true);
          return id;
        }

        it('reads one as null and removes it', async () => {
          const id = await unreadable();
          await expect(backend.read(id)).resolves.toBeNull();
          await expect(target.stored!(id)).resolves.toBe(false);
        });

        if (has('readAndTouch'))
          it('readAndTouch reads one as null and removes it', async () => {
            const id = await unreadable();
            await expect(backend.readAndTouch!(id, 60)).resolves.toBeNull();
            await expect(target.stored!(id)).resolves.toBe(false);
          });

        if (has('patch'))
          it('patch resolves false for one, removes it and creates nothing', async () => {
            const id = await unreadable();
            await expect(backend.patch!(id, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(false);
            await expect(target.stored!(id)).resolves.toBe(false);
          });
      });
  });
}
