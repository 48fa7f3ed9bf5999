// Specs of the user index (indexAdd / indexRemove / indexList, indexDestroy)
// and of records a backend cannot decode.
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { sleep, type SuiteContext } from './suite-context.js';
import { storageKey } from './values.js';

/** An owner as the module passes it: an opaque digest of the user's id. */
const owner = () => randomBytes(32).toString('base64url');

/** @internal */
export function indexSpecs({ t, backend }: SuiteContext): void {
  const { it, expect } = t;

  it('lists the live sessions of an owner with their creation and expiry', async () => {
    const [who, other] = [owner(), owner()];
    const [a, b, c] = [storageKey(), storageKey(), storageKey()];
    for (const id of [a, b, c]) await backend().write(id, { id }, 60);
    await backend().indexAdd!(who, a, 1000, 120);
    await backend().indexAdd!(who, b, 2000, 120);
    await backend().indexAdd!(other, c, 3000, 120);
    const list = await backend().indexList!(who);
    expect(list.map((entry) => entry.id).sort()).toEqual([a, b].sort());
    const entryB = list.find((entry) => entry.id === b)!;
    expect(entryB.createdAt).toBe(2000);
    expect(entryB.expiresAt).toBeGreaterThan(Date.now() + 55_000);
    expect(entryB.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
    expect((await backend().indexList!(other)).map((entry) => entry.id)).toEqual([c]);
  });

  it('keeps every entry when one owner is indexed concurrently', async () => {
    const who = owner();
    const ids = Array.from({ length: 20 }, storageKey);
    await Promise.all(ids.map((id) => backend().write(id, { id }, 60)));
    await Promise.all(ids.map((id, i) => backend().indexAdd!(who, id, i, 120)));
    const list = await backend().indexList!(who);
    expect(list.map((entry) => entry.id).sort()).toEqual([...ids].sort());
  });

  it('forgets a removed entry, and an unknown owner has none', async () => {
    const who = owner();
    const id = storageKey();
    await backend().write(id, { a: 1 }, 60);
    await backend().indexAdd!(who, id, 1, 120);
    await backend().indexRemove!(who, id);
    await expect(backend().indexList!(who)).resolves.toEqual([]);
    await expect(backend().indexList!(owner())).resolves.toEqual([]);
  });

  it('drops entries whose sessions were destroyed or expired', async () => {
    const who = owner();
    const [gone, expiring, alive] = [storageKey(), storageKey(), storageKey()];
    await backend().write(gone, { a: 1 }, 60);
    await backend().write(expiring, { a: 1 }, 1);
    await backend().write(alive, { a: 1 }, 60);
    for (const id of [gone, expiring, alive]) await backend().indexAdd!(who, id, 1, 120);
    await backend().destroy(gone);
    await sleep(1200);
    expect((await backend().indexList!(who)).map((entry) => entry.id)).toEqual([alive]);
  });
}

/** @internal */
export function indexDestroySpecs({ t, backend }: SuiteContext): void {
  const { it, expect } = t;

  it('ends the given sessions with their entries and keeps the others', async () => {
    const [who, other] = [owner(), owner()];
    const ended = Array.from({ length: 5 }, storageKey);
    const [kept, othersOwn] = [storageKey(), storageKey()];
    for (const id of [...ended, kept, othersOwn]) await backend().write(id, { id }, 60);
    for (const id of [...ended, kept]) await backend().indexAdd!(who, id, 1, 120);
    await backend().indexAdd!(other, othersOwn, 1, 120);
    await backend().indexDestroy!(who, ended);
    for (const id of ended) await expect(backend().read(id)).resolves.toBeNull();
    await expect(backend().read(kept)).resolves.toEqual({ id: kept });
    await expect(backend().read(othersOwn)).resolves.toEqual({ id: othersOwn });
    // A record written again under an ended id is not listed: its entry went too.
    await backend().write(ended[0], { back: true }, 60);
    expect((await backend().indexList!(who)).map((entry) => entry.id)).toEqual([kept]);
    expect((await backend().indexList!(other)).map((entry) => entry.id)).toEqual([othersOwn]);
  });

  it('with no ids, or an unknown owner, is not an error', async () => {
    const id = storageKey();
    await backend().write(id, { a: 1 }, 60);
    await expect(backend().indexDestroy!(owner(), [])).resolves.toBeUndefined();
    await expect(backend().indexDestroy!(owner(), [storageKey()])).resolves.toBeUndefined();
    await expect(backend().read(id)).resolves.toEqual({ a: 1 });
  });
}

/** @internal */
export function unreadableSpecs({ t, has, backend, target }: SuiteContext): void {
  const { it, expect, beforeEach, afterEach } = t;
  const warn = Object.getOwnPropertyDescriptor(Logger.prototype, 'warn')!;

  // Backends of this library log the unreadable record; keep the test output quiet.
  beforeEach(() => {
    Object.defineProperty(Logger.prototype, 'warn', { ...warn, value: () => undefined });
  });
  afterEach(() => {
    Object.defineProperty(Logger.prototype, 'warn', warn);
  });

  async function unreadable(): Promise<string> {
    const id = storageKey();
    await target().corrupt!(id);
    await expect(target().stored!(id)).resolves.toBe(true);
    return id;
  }

  it('reads one as null and removes it', async () => {
    const id = await unreadable();
    await expect(backend().read(id)).resolves.toBeNull();
    await expect(target().stored!(id)).resolves.toBe(false);
  });

  if (has('readAndTouch'))
    it('readAndTouch reads one as null and removes it', async () => {
      const id = await unreadable();
      await expect(backend().readAndTouch!(id, 60)).resolves.toBeNull();
      await expect(target().stored!(id)).resolves.toBe(false);
    });

  if (has('patch'))
    it('patch resolves false for one, removes it and creates nothing', async () => {
      const id = await unreadable();
      await expect(backend().patch!(id, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(false);
      await expect(target().stored!(id)).resolves.toBe(false);
    });

  if (has('move'))
    it('move resolves false for one, removes it and writes nothing under the new id', async () => {
      const [id, newId] = [await unreadable(), storageKey()];
      await expect(backend().move!(id, newId, { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
        false,
      );
      await expect(target().stored!(id)).resolves.toBe(false);
      await expect(target().stored!(newId)).resolves.toBe(false);
    });
}
