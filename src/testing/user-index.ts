// Specs of the user index (indexAdd / indexRemove / indexList, indexDestroy)
// and of records a backend cannot decode.
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { sleep, type SuiteContext } from './suite-context.js';
import type { SessionLimit } from '../backends/session-backend.js';
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

  it('keeps when a session was seen and its description, and a renewal keeps the description', async () => {
    const who = owner();
    const [a, b] = [storageKey(), storageKey()];
    const info = JSON.stringify({
      ua: 'Mozilla/5.0 (X; "q") \\ é 🙂',
      ip: '::1',
      n: [1, { a: null }],
    });
    for (const id of [a, b]) await backend().write(id, { id }, 60);
    await backend().indexAdd!(who, a, 1000, 120, { seenAt: 5000, info });
    await backend().indexAdd!(who, b, 2000, 120);
    let list = await backend().indexList!(who);
    const entryA = list.find((entry) => entry.id === a)!;
    expect([entryA.createdAt, entryA.seenAt, entryA.info]).toEqual([1000, 5000, info]);
    const entryB = list.find((entry) => entry.id === b)!;
    expect(entryB.info).toBeUndefined();
    expect(entryB.seenAt ?? entryB.createdAt).toBeGreaterThan(1999);
    await backend().indexAdd!(who, a, 1000, 120, { seenAt: 9000 });
    list = await backend().indexList!(who);
    const renewed = list.find((entry) => entry.id === a)!;
    expect([renewed.seenAt, renewed.info]).toEqual([9000, info]);
    await backend().indexRemove!(who, a);
    await backend().indexAdd!(who, a, 1000, 120, { seenAt: 9500 });
    list = await backend().indexList!(who);
    expect(list.find((entry) => entry.id === a)!.info).toBeUndefined();
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

/** @internal */
export function indexLimitSpecs({ t, backend }: SuiteContext): void {
  const { it, expect } = t;
  const evict = (max: number, replaces?: string): SessionLimit => ({
    max,
    onLimit: 'evict-oldest',
    ...(replaces !== undefined && { replaces }),
  });
  const reject = (max: number): SessionLimit => ({ max, onLimit: 'reject' });
  const now = () => ({ seenAt: Date.now() });

  /** Sessions of `who` with records, seen at `seen[i]`. */
  async function sessions(who: string, seen: number[]): Promise<string[]> {
    const ids = seen.map(() => storageKey());
    for (const [i, id] of ids.entries()) {
      await backend().write(id, { id }, 60);
      await backend().indexAdd!(who, id, 1, 120, { seenAt: seen[i] });
    }
    return ids;
  }

  const listed = async (who: string) =>
    (await backend().indexList!(who)).map((entry) => entry.id).sort();

  it('ends the least recently seen sessions past the limit, records and entries', async () => {
    const [who, other] = [owner(), owner()];
    const [a, b, c] = await sessions(who, [1000, 3000, 2000]);
    const [theirs] = await sessions(other, [500]);
    const d = storageKey();
    const result = await backend().indexAddLimited!(who, d, 1, 120, now(), evict(2));
    expect(result).toEqual({ rejected: false, evicted: [a, c] });
    await backend().write(d, { d: 1 }, 60);
    await expect(backend().read(a)).resolves.toBeNull();
    await expect(backend().read(c)).resolves.toBeNull();
    await expect(backend().read(b)).resolves.toEqual({ id: b });
    expect(await listed(who)).toEqual([b, d].sort());
    expect(await listed(other)).toEqual([theirs]);
  });

  it('rejects an addition past the limit, adding and ending nothing', async () => {
    const who = owner();
    const [a, b] = await sessions(who, [1000, 2000]);
    const c = storageKey();
    const result = await backend().indexAddLimited!(who, c, 1, 120, now(), reject(2));
    expect(result).toEqual({ rejected: true, evicted: [] });
    await backend().write(c, { c: 1 }, 60);
    expect(await listed(who)).toEqual([a, b].sort());
  });

  it('counts neither the session replaced nor one already indexed', async () => {
    const who = owner();
    const [a, b] = await sessions(who, [1000, 2000]);
    const none = { rejected: false, evicted: [] };
    await expect(backend().indexAddLimited!(who, b, 1, 120, now(), reject(2))).resolves.toEqual(
      none,
    );
    const c = storageKey();
    await expect(backend().indexAddLimited!(who, c, 1, 120, now(), evict(2, a))).resolves.toEqual(
      none,
    );
    await backend().write(c, { c: 1 }, 60);
    expect(await listed(who)).toEqual([a, b, c].sort());
  });

  it('does not count ended sessions, but counts one added moments ago whose record is on its way', async () => {
    const who = owner();
    const [gone] = await sessions(who, [Date.now() - 60_000]);
    await backend().destroy(gone);
    const a = storageKey();
    await expect(backend().indexAddLimited!(who, a, 1, 120, now(), reject(1))).resolves.toEqual({
      rejected: false,
      evicted: [],
    });
    // a has no record yet: it may be a login on its way, so it counts.
    await expect(
      backend().indexAddLimited!(who, storageKey(), 1, 120, now(), reject(1)),
    ).resolves.toEqual({ rejected: true, evicted: [] });
  });

  it('lets one of two concurrent additions through when there is room for one', async () => {
    const who = owner();
    await sessions(who, [1000]);
    const [b, c] = [storageKey(), storageKey()];
    const results = await Promise.all(
      [b, c].map((id) => backend().indexAddLimited!(who, id, 1, 120, now(), reject(2))),
    );
    expect(results.map((result) => result.rejected).sort()).toEqual([false, true]);
  });

  it('keeps the limit under concurrent additions that evict', async () => {
    const who = owner();
    const [a, b] = await sessions(who, [1000, 2000]);
    const [c, d] = [storageKey(), storageKey()];
    const results = await Promise.all(
      [c, d].map((id) => backend().indexAddLimited!(who, id, 1, 120, now(), evict(2))),
    );
    expect(results.flatMap((result) => result.evicted).sort()).toEqual([a, b].sort());
    for (const id of [c, d]) await backend().write(id, { id }, 60);
    expect(await listed(who)).toEqual([c, d].sort());
  });
}
