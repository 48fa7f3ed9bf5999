// Specs of the optional record methods: readAndTouch, patch and move.
import type { SessionData } from '../backends/session-backend.js';
import { expectSameData, sleep, type SuiteContext } from './suite-context.js';
import { ODD_STRINGS, oddData, storageKey, TRICKY } from './values.js';

/** @internal */
export function readAndTouchSpecs({ t, backend }: SuiteContext): void {
  const { it, expect } = t;

  it('returns the record (a copy) and null for a missing one', async () => {
    const id = storageKey();
    await backend().write(id, TRICKY, 60);
    const back = await backend().readAndTouch!(id, 60);
    expect(back).toEqual(TRICKY);
    (back!.nested as Record<string, unknown>).a = 'changed';
    await expect(backend().read(id)).resolves.toEqual(TRICKY);
    await expect(backend().readAndTouch!(storageKey(), 60)).resolves.toBeNull();
  });

  it('round-trips every JavaScript string', async () => {
    const id = storageKey();
    const data = oddData();
    await backend().write(id, data, 60);
    expectSameData(t, await backend().readAndTouch!(id, 60), data);
  });
}

/** @internal */
export function patchSpecs({ t, backend }: SuiteContext): void {
  const { it, expect } = t;

  it('sets and removes the given keys and keeps the others', async () => {
    const id = storageKey();
    await backend().write(id, { keep: [1], drop: 'x', change: 1 }, 60);
    await expect(
      backend().patch!(id, { set: { change: { to: [] }, added: TRICKY }, unset: ['drop'] }, 60),
    ).resolves.toBe(true);
    await expect(backend().read(id)).resolves.toEqual({
      keep: [1],
      change: { to: [] },
      added: TRICKY,
    });
  });

  it('sets and removes values and key names made of any JavaScript string', async () => {
    const id = storageKey();
    await backend().write(id, { base: 1, [ODD_STRINGS[0]]: 'gone soon' }, 60);
    const data = oddData();
    await expect(backend().patch!(id, { set: data, unset: [] }, 60)).resolves.toBe(true);
    expectSameData(t, await backend().read(id), { base: 1, ...data });

    // Patching a record that already holds them, by odd names.
    const removed = ODD_STRINGS.slice(0, 4);
    const changed = ODD_STRINGS[4];
    await expect(
      backend().patch!(
        id,
        { set: { [changed]: ODD_STRINGS, added: '\ud800' }, unset: removed },
        60,
      ),
    ).resolves.toBe(true);
    const expected: SessionData = { base: 1, ...data, [changed]: ODD_STRINGS, added: '\ud800' };
    for (const name of removed) delete expected[name];
    expectSameData(t, await backend().read(id), expected);
  });

  it('sets a key named __proto__ as plain data', async () => {
    const id = storageKey();
    await backend().write(id, { ok: 1 }, 60);
    const set = JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    await expect(backend().patch!(id, { set, unset: [] }, 60)).resolves.toBe(true);
    const back = await backend().read(id);
    expect(Object.keys(back!).sort()).toEqual(['__proto__', 'ok']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns false and creates nothing when the record is missing', async () => {
    const id = storageKey();
    await expect(backend().patch!(id, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(false);
    await expect(backend().read(id)).resolves.toBeNull();
  });

  it('does not bring back a destroyed session', async () => {
    const id = storageKey();
    await backend().write(id, { a: 1 }, 60);
    await backend().destroy(id);
    await expect(backend().patch!(id, { set: { b: 2 }, unset: [] }, 60)).resolves.toBe(false);
    await expect(backend().read(id)).resolves.toBeNull();
  });

  it('keeps both changes when overlapping patches change different keys', async () => {
    const id = storageKey();
    await backend().write(id, { base: true, gone: 1 }, 60);
    const patches = Array.from({ length: 20 }, (_, i) =>
      backend().patch!(id, { set: { [`k${i}`]: i }, unset: i === 0 ? ['gone'] : [] }, 60),
    );
    await expect(Promise.all(patches)).resolves.toEqual(patches.map(() => true));
    const expected: SessionData = { base: true };
    for (let i = 0; i < 20; i += 1) expected[`k${i}`] = i;
    await expect(backend().read(id)).resolves.toEqual(expected);
  });

  it('a key one patch removed stays removed when another patch sets a different key', async () => {
    const id = storageKey();
    await backend().write(id, { flash: 'hello', user: 'ann' }, 60);
    await Promise.all([
      backend().patch!(id, { set: {}, unset: ['flash'] }, 60),
      backend().patch!(id, { set: { visits: 2 }, unset: [] }, 60),
    ]);
    await expect(backend().read(id)).resolves.toEqual({ user: 'ann', visits: 2 });
  });

  it('applies the TTL it is given', async () => {
    const id = storageKey();
    await backend().write(id, { a: 1 }, 60);
    await backend().patch!(id, { set: { b: 2 }, unset: [] }, 1);
    await sleep(1200);
    await expect(backend().read(id)).resolves.toBeNull();
  });
}

/** @internal */
export function moveSpecs({ t, backend }: SuiteContext): void {
  const { it, expect } = t;

  it('moves the stored record with the delta applied and removes the old one, resolving true', async () => {
    const [oldId, newId] = [storageKey(), storageKey()];
    await backend().write(oldId, { a: 1, gone: true, kept: 'other request' }, 60);
    await expect(
      backend().move!(oldId, newId, { set: { a: 2, b: TRICKY }, unset: ['gone'] }, 60),
    ).resolves.toBe(true);
    await expect(backend().read(oldId)).resolves.toBeNull();
    await expect(backend().read(newId)).resolves.toEqual({
      a: 2,
      kept: 'other request',
      b: TRICKY,
    });
  });

  it('applies the TTL it is given', async () => {
    const [oldId, newId] = [storageKey(), storageKey()];
    await backend().write(oldId, { a: 1 }, 60);
    await backend().move!(oldId, newId, { set: {}, unset: [] }, 1);
    await sleep(1200);
    await expect(backend().read(newId)).resolves.toBeNull();
  });

  it('resolves false and writes nothing when the old record never existed', async () => {
    const [oldId, newId] = [storageKey(), storageKey()];
    await expect(backend().move!(oldId, newId, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
      false,
    );
    await expect(backend().read(newId)).resolves.toBeNull();
    await expect(backend().read(oldId)).resolves.toBeNull();
  });

  it('resolves false and writes nothing when the old record was destroyed', async () => {
    const [oldId, newId] = [storageKey(), storageKey()];
    await backend().write(oldId, { a: 1 }, 60);
    await backend().destroy(oldId);
    await expect(backend().move!(oldId, newId, { set: { a: 2 }, unset: [] }, 60)).resolves.toBe(
      false,
    );
    await expect(backend().read(newId)).resolves.toBeNull();
    await expect(backend().read(oldId)).resolves.toBeNull();
  });

  it('of concurrent moves of one record, exactly one succeeds', async () => {
    const oldId = storageKey();
    const newIds = Array.from({ length: 10 }, storageKey);
    await backend().write(oldId, { user: 'ann' }, 60);
    const moved = await Promise.all(
      newIds.map((newId, i) => backend().move!(oldId, newId, { set: { i }, unset: [] }, 60)),
    );
    expect(moved.filter(Boolean).length).toBe(1);
    const winner = moved.indexOf(true);
    const records = await Promise.all(newIds.map((newId) => backend().read(newId)));
    expect(records.filter((record) => record !== null)).toEqual([{ user: 'ann', i: winner }]);
    await expect(backend().read(oldId)).resolves.toBeNull();
  });

  it('round-trips every JavaScript string', async () => {
    const [oldId, newId] = [storageKey(), storageKey()];
    const data = oddData();
    await backend().write(oldId, data, 60);
    await expect(backend().move!(oldId, newId, { set: data, unset: [] }, 60)).resolves.toBe(true);
    expectSameData(t, await backend().read(newId), data);
  });
}
