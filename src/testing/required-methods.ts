// Specs every backend must pass: the four abstract methods, `touch`, TTLs,
// odd values and concurrent use.
import type { SessionData } from '../backends/session-backend.js';
import { expectSameData, sleep, type SuiteContext } from './suite-context.js';
import { oddData, storageKey, TRICKY } from './values.js';

/** @internal */
export function requiredSpecs({ t, has, backend, target }: SuiteContext): void {
  const { it, expect } = t;

  it('has read, write, destroy and clear (and touch, inherited or its own)', () => {
    for (const method of ['read', 'write', 'destroy', 'clear', 'touch'] as const) {
      expect([method, typeof backend()[method]]).toEqual([method, 'function']);
    }
  });

  it('reads null for a record that was never written', async () => {
    await expect(backend().read(storageKey())).resolves.toBeNull();
  });

  it('reads back what it wrote, and a second write replaces the first', async () => {
    const id = storageKey();
    await backend().write(id, { userId: '123', roles: ['admin'] }, 60);
    await expect(backend().read(id)).resolves.toEqual({ userId: '123', roles: ['admin'] });
    await backend().write(id, { userId: '456' }, 60);
    await expect(backend().read(id)).resolves.toEqual({ userId: '456' });
  });

  it('keeps records apart by id', async () => {
    const [a, b] = [storageKey(), storageKey()];
    await backend().write(a, { who: 'a' }, 60);
    await backend().write(b, { who: 'b' }, 60);
    await expect(backend().read(a)).resolves.toEqual({ who: 'a' });
    await expect(backend().read(b)).resolves.toEqual({ who: 'b' });
  });

  it('keeps records apart under concurrent writes, and a read during a rewrite sees the whole record', async () => {
    const ids = Array.from({ length: 50 }, storageKey);
    await Promise.all(ids.map((id, i) => backend().write(id, { i, id }, 60)));
    const [records] = await Promise.all([
      Promise.all(ids.map((id) => backend().read(id))),
      Promise.all(ids.map((id, i) => backend().write(id, { i, id }, 60))),
    ]);
    expect(records).toEqual(ids.map((id, i) => ({ i, id })));
  });

  it('round-trips values exactly', async () => {
    const id = storageKey();
    await backend().write(id, TRICKY, 60);
    const back = await backend().read(id);
    expect(back).toEqual(TRICKY);
    expect(Object.keys(back!).sort()).toEqual(Object.keys(TRICKY).sort());
    expect(back!.maxSafe).toBe(Number.MAX_SAFE_INTEGER);
    expect(Array.isArray(back!.emptyArray)).toBe(true);
    expect(Array.isArray(back!.emptyObject)).toBe(false);
  });

  it('round-trips every JavaScript string, as values, inside nested values and as key names', async () => {
    const id = storageKey();
    const data = oddData();
    await backend().write(id, data, 60);
    expectSameData(t, await backend().read(id), data);
  });

  it('keeps a key named __proto__ as plain data', async () => {
    const id = storageKey();
    const data = JSON.parse('{"__proto__":{"polluted":true},"ok":1}') as SessionData;
    await backend().write(id, data, 60);
    const back = await backend().read(id);
    expect(Object.keys(back!).sort()).toEqual(['__proto__', 'ok']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns copies: mutating what was written or read does not change the store', async () => {
    const id = storageKey();
    const data = { profile: { name: 'Ann', tags: ['a'] } };
    await backend().write(id, data, 60);
    data.profile.tags.push('written');
    const first = (await backend().read(id)) as typeof data;
    first.profile.name = 'Changed';
    first.profile.tags.push('read');
    await expect(backend().read(id)).resolves.toEqual({ profile: { name: 'Ann', tags: ['a'] } });
  });

  it('destroys a record, and destroying a missing one is not an error', async () => {
    const id = storageKey();
    await backend().write(id, { a: 1 }, 60);
    await backend().destroy(id);
    await expect(backend().read(id)).resolves.toBeNull();
    await expect(backend().destroy(storageKey())).resolves.toBeUndefined();
  });

  it('touching a missing record does not create it', async () => {
    const id = storageKey();
    await backend().touch(id, 60);
    await expect(backend().read(id)).resolves.toBeNull();
  });

  it('expires records after their TTL, and touch (and readAndTouch) extend it', async () => {
    const [expiring, touched, readTouched] = [storageKey(), storageKey(), storageKey()];
    await backend().write(expiring, { a: 1 }, 1);
    await backend().write(touched, { b: 2 }, 1);
    await backend().write(readTouched, { c: 3 }, 1);
    await backend().touch(touched, 10);
    if (has('readAndTouch')) {
      await expect(backend().readAndTouch!(readTouched, 10)).resolves.toEqual({ c: 3 });
    } else {
      await backend().touch(readTouched, 10);
    }
    await expect(backend().read(expiring)).resolves.toEqual({ a: 1 });
    await sleep(1200);
    await expect(backend().read(expiring)).resolves.toBeNull();
    await expect(backend().read(touched)).resolves.toEqual({ b: 2 });
    await expect(backend().read(readTouched)).resolves.toEqual({ c: 3 });
  });

  it('clear() removes every session of this backend and nothing else', async () => {
    const { foreign } = target();
    const ids = Array.from({ length: 40 }, storageKey);
    await Promise.all(ids.map((id, i) => backend().write(id, { i }, 60)));
    await foreign?.put();
    await backend().clear();
    const after = await Promise.all(ids.map((id) => backend().read(id)));
    expect(after.filter((record) => record !== null)).toEqual([]);
    if (foreign) await expect(foreign.survives()).resolves.toBe(true);
  });
}
