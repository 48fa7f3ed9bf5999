import { jest } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import { MapBackend } from '../test/support/map-backend.js';
import { capabilitiesOf } from './backends/backend-capabilities.js';
import { MemoryBackend } from './backends/memory.backend.js';
import type { SessionBackend, SessionData } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import type { LifetimeOptions } from './session.lifetime.js';
import { recordOf } from './session.record.js';
import type { VerifiedCookie } from './session.signer.js';
import { SessionStore, type Pending } from './session.store.js';
import { SessionLimitError } from './session.errors.js';
import { ownerDigest, UserIndex } from './session.user-index.js';
import { isModified, Session, sessionInternals } from './session.js';

// The save rules, against real backends and a controlled clock, without an
// app: what is written, with which expiry and TTL, and what the cookie becomes.

const T0 = Date.UTC(2026, 0, 1);
let now = T0;
const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
afterAll(() => clock.mockRestore());

const logger = { warn: jest.fn(), error: jest.fn(), log: jest.fn() };
const owes = (): Pending => ({ touch: false, refresh: false });

function setup(
  options: Partial<LifetimeOptions> & { userKey?: string } = {},
  backend: SessionBackend = new MapBackend(),
) {
  now = T0;
  logger.warn.mockClear();
  const lifetime = {
    maxAge: 60,
    rolling: false,
    absoluteTimeout: undefined,
    touchAfter: 0,
    ...options,
  };
  const capabilities = capabilitiesOf(backend);
  const log = logger as unknown as Logger;
  const index = new UserIndex(options.userKey, lifetime.maxAge, capabilities, log);
  const store = new SessionStore(lifetime, capabilities, index, log);

  /** A new session holding `data`, saved. */
  async function created(data: SessionData): Promise<Session> {
    const session = new Session();
    for (const [key, value] of Object.entries(data)) session.set(key, value);
    await store.save(session, owes(), false);
    return session;
  }
  /** What `session`'s cookie loads in a later request. */
  function reload(session: Session, pending = owes()): Promise<Session> {
    const { id, storageKey } = recordOf(session)!;
    const cookie: VerifiedCookie = { id, keyIndex: 0, storageKey };
    return store.load(cookie, pending);
  }
  const stored = (session: Session) => backend.read(recordOf(session)!.storageKey);
  const metaOf = async (session: Session) =>
    (await stored(session))![META_KEY] as { c: number; e: number; i?: number };
  return { store, backend, created, reload, stored, metaOf };
}

describe('SessionStore', () => {
  describe('a new session', () => {
    it('stores nothing while unchanged, or when emptied again', async () => {
      const { store, backend } = setup();
      await expect(store.save(new Session(), owes(), false)).resolves.toBeUndefined();
      const emptied = new Session().set('a', 1);
      emptied.delete('a');
      await expect(store.save(emptied, owes(), false)).resolves.toBeUndefined();
      expect((backend as MapBackend).size).toBe(0);
    });

    it('is written with its creation and expiry, and its cookie gets maxAge', async () => {
      const { store, stored } = setup();
      const session = new Session().set('user', 'ann');
      await expect(store.save(session, owes(), false)).resolves.toEqual({
        id: session.id,
        maxAge: 60,
      });
      expect(session.isNew).toBe(false);
      expect(await stored(session)).toEqual({
        user: 'ann',
        [META_KEY]: { c: T0, e: T0 + 60_000 },
      });
    });

    it('hands the backend metadata without empty fields, on a write and on a patch', async () => {
      // A backend that keeps objects as they are (not as JSON) would store them.
      const backend = new MemoryBackend();
      const write = jest.spyOn(backend, 'write');
      const patch = jest.spyOn(backend, 'patch');
      const { store, created, reload } = setup({ userKey: 'user' }, backend);
      const plain = await created({ a: 1 });
      expect(Object.keys(write.mock.calls[0][1][META_KEY] as object)).toEqual(['c', 'e']);
      const own = new Session().set('user', 'ann').setMaxAge(30, { persistent: false });
      await store.save(own, owes(), false);
      expect(Object.keys(write.mock.calls[1][1][META_KEY] as object)).toEqual([
        'c',
        'e',
        'i',
        'm',
        'p',
      ]);
      const loaded = await reload(plain);
      loaded.set('a', 2);
      await store.save(loaded, owes(), false);
      expect(Object.keys(patch.mock.calls[0][1].set[META_KEY] as object)).toEqual(['c', 'e']);
    });

    it('is not stored once the headers went out (its cookie could not be sent)', async () => {
      const { store, backend } = setup();
      await expect(store.save(new Session().set('a', 1), owes(), true)).resolves.toBeUndefined();
      expect((backend as MapBackend).size).toBe(0);
      expect(logger.warn).toHaveBeenCalled();
    });
  });

  describe('lifetime', () => {
    it('without rolling, a later change keeps the expiry; the TTL is what is left', async () => {
      const { store, backend, created, reload, metaOf } = setup();
      const write = jest.spyOn(backend, 'write');
      const loaded = await reload(await created({ user: 'ann' }));
      now = T0 + 20_000;
      loaded.set('cart', [1]);
      await store.save(loaded, owes(), false);
      expect(await metaOf(loaded)).toEqual({ c: T0, e: T0 + 60_000 });
      expect(write.mock.calls.at(-1)![2]).toBe(40);
    });

    it('with rolling, a change slides the expiry, capped by absoluteTimeout', async () => {
      const { store, created, reload, metaOf } = setup({ rolling: true, absoluteTimeout: 90 });
      const session = await created({ user: 'ann' });
      now = T0 + 20_000;
      const loaded = await reload(session);
      loaded.set('cart', [1]);
      await store.save(loaded, owes(), false);
      expect((await metaOf(loaded)).e).toBe(T0 + 80_000);
      now = T0 + 50_000;
      loaded.set('cart', [2]);
      await store.save(loaded, owes(), false);
      expect((await metaOf(loaded)).e).toBe(T0 + 90_000);
    });

    it('with rolling on a backend without its own touch, a read is refreshed by touch, never by writing what was loaded', async () => {
      const { store, backend, created, reload, stored } = setup({ rolling: true });
      const session = await created({ user: 'ann' });
      const pending = owes();
      const loaded = await reload(session, pending);
      expect(pending.touch).toBe(true);
      // Another request changes the record meanwhile.
      const other = await reload(session);
      other.set('theme', 'dark');
      await store.save(other, owes(), false);
      const touch = jest.spyOn(backend, 'touch');
      now = T0 + 30_000;
      await store.save(loaded, pending, false);
      expect(touch).toHaveBeenCalledWith(recordOf(session)!.storageKey, 60);
      expect(await stored(session)).toMatchObject({ user: 'ann', theme: 'dark' });
      expect(((await stored(session))![META_KEY] as { e: number }).e).toBe(T0 + 90_000);
    });

    it('does not serve an expired record, and deletes it', async () => {
      const { created, reload, backend } = setup();
      const session = await created({ user: 'ann' });
      now = T0 + 60_000;
      const loaded = await reload(session);
      expect(loaded.isNew).toBe(true);
      expect((backend as MapBackend).size).toBe(0);
    });

    it('treats a record without valid metadata as missing, warns, and deletes it', async () => {
      const { backend, reload, created } = setup();
      const session = await created({ user: 'ann' });
      await backend.write(recordOf(session)!.storageKey, { user: 'mallory' }, 60);
      expect((await reload(session)).isNew).toBe(true);
      expect(logger.warn).toHaveBeenCalled();
      expect((backend as MapBackend).size).toBe(0);
    });
  });

  describe('a lifetime of its own and touchAfter', () => {
    it('without rolling, a lifetime set later counts from then, and the cookie follows', async () => {
      const { store, created, reload, metaOf } = setup();
      const loaded = await reload(await created({ user: 'ann' }));
      now = T0 + 20_000;
      loaded.setMaxAge(600, { persistent: false });
      expect(store.prepare(loaded)).toMatchObject({ maxAge: 600, persistent: false, resend: true });
      expect(await store.save(loaded, owes(), false)).toMatchObject({ maxAge: 600, resend: true });
      expect(await metaOf(loaded)).toEqual({ c: T0, e: T0 + 620_000, m: 600, p: 0 });
      const again = await reload(loaded);
      expect(again.maxAge).toBe(600);
      // Back to the module's lifetime (the cookie kind stays the session's).
      again.setMaxAge(null);
      await store.save(again, owes(), false);
      expect(await metaOf(again)).toEqual({ c: T0, e: T0 + 80_000, p: 0 });
    });

    it('ignores a stored lifetime that is not a positive number', async () => {
      const { backend, created, reload } = setup();
      const session = await created({ user: 'ann' });
      const key = recordOf(session)!.storageKey;
      const record = (await backend.read(key))!;
      await backend.write(key, { ...record, [META_KEY]: { c: T0, e: T0 + 60_000, m: -1 } }, 60);
      expect((await reload(session)).maxAge).toBeUndefined();
    });

    it('with touchAfter, owes a touch only once it moves the expiry by touchAfter, and writes the expiry', async () => {
      const { store, created, reload, metaOf } = setup({ rolling: true, touchAfter: 10 });
      const session = await created({ user: 'ann' });
      now = T0 + 9_000;
      const early = owes();
      await reload(session, early);
      expect(early.touch).toBe(false);
      now = T0 + 10_000;
      const due = owes();
      const loaded = await reload(session, due);
      expect(due.touch).toBe(true);
      await store.save(loaded, due, false);
      expect((await metaOf(loaded)).e).toBe(T0 + 70_000);
    });

    it('with touchAfter, owes nothing once absoluteTimeout caps the expiry', async () => {
      const { created, reload } = setup({ rolling: true, touchAfter: 10, absoluteTimeout: 65 });
      const session = await created({ user: 'ann' });
      now = T0 + 30_000;
      const capped = owes();
      await reload(session, capped);
      expect(capped.touch).toBe(false);
    });
  });

  describe('changes made while a save writes', () => {
    /** A backend whose writes wait until `release()`; `started` resolves once one began. */
    function gated(backend: SessionBackend) {
      let release!: () => void;
      let began!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const started = new Promise<void>((resolve) => (began = resolve));
      for (const method of ['write', 'patch'] as const) {
        const original = backend[method]?.bind(backend);
        if (!original) continue;
        jest.spyOn(backend, method).mockImplementation(async (...args: unknown[]) => {
          began();
          await gate;
          return (original as (...a: unknown[]) => Promise<never>)(...args);
        });
      }
      return { started, release };
    }

    it.each([
      ['a new session', false],
      ['a stored session', true],
    ])('stay pending in %s, and the next save writes them', async (_name, stored) => {
      const backend = new MemoryBackend();
      const { store, created, reload } = setup({}, backend);
      const session = stored ? await reload(await created({ a: 1, gone: 1 })) : new Session();
      session.set('a', 2);
      const { started, release } = gated(backend);
      const saving = store.save(session, owes(), false);
      await started;
      session.set('b', 3);
      session.delete('gone');
      session.setMaxAge(30);
      release();
      await saving;
      expect(isModified(session)).toBe(true);
      await store.save(session, owes(), false);
      expect(isModified(session)).toBe(false);
      expect((await reload(session)).toJSON()).toEqual({ a: 2, b: 3 });
      expect(recordOf(await reload(session))).toBeDefined();
    });

    it('a failed write leaves its changes pending, newer ones winning', async () => {
      const backend = new MemoryBackend();
      const { store, created, reload } = setup({}, backend);
      const session = await reload(await created({ a: 1, b: 1, c: 1 }));
      session.set('a', 2).set('b', 2).delete('c');
      session.setMaxAge(30);
      let began!: () => void;
      const started = new Promise<void>((resolve) => (began = resolve));
      jest.spyOn(backend, 'patch').mockImplementationOnce(async () => {
        began();
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error('store down');
      });
      const saving = store.save(session, owes(), false);
      await started;
      session.delete('b');
      session.set('c', 3);
      await expect(saving).rejects.toThrow('store down');
      expect([...sessionInternals().changed(session)].sort()).toEqual(['a', 'c']);
      expect([...sessionInternals().deleted(session)]).toEqual(['b']);
      expect(sessionInternals().lifetimeChanged(session)).toBe(true);
      await store.save(session, owes(), false);
      expect((await reload(session)).toJSON()).toEqual({ a: 2, c: 3 });
    });

    it('a session reset while its first write ran is not left stored', async () => {
      const backend = new MemoryBackend();
      const { store } = setup({}, backend);
      const session = new Session().set('user', 'ann');
      const { started, release } = gated(backend);
      const saving = store.save(session, owes(), false);
      await started;
      sessionInternals().reset(session);
      release();
      await expect(saving).resolves.toBeUndefined();
      expect(backend.size).toBe(0);
    });

    it('a stored session ended while its write ran is not brought back', async () => {
      const backend = new MapBackend();
      const { store, created, reload } = setup({}, backend);
      const session = await reload(await created({ user: 'ann' }));
      session.set('seen', 1);
      const { started, release } = gated(backend);
      const saving = store.save(session, owes(), false);
      await started;
      sessionInternals().reset(session);
      release();
      await expect(saving).resolves.toBeUndefined();
      expect(backend.size).toBe(0);
    });
  });

  describe('a record ended meanwhile', () => {
    it('is not brought back by a save (patch misses), and no cookie change is asked for', async () => {
      const { store, backend, created, reload } = setup({}, new MemoryBackend());
      const session = await created({ user: 'ann' });
      const loaded = await reload(session);
      await backend.destroy(recordOf(session)!.storageKey);
      loaded.set('late', true);
      await expect(store.save(loaded, owes(), false)).resolves.toBeUndefined();
      expect(loaded.isNew).toBe(true);
      expect(loaded.keys()).toEqual([]);
      expect((backend as MemoryBackend).size).toBe(0);
    });

    it('is not brought back by regenerate, which leaves a new, empty session', async () => {
      const { store, backend, created, reload } = setup();
      const session = await created({ user: 'ann' });
      const loaded = await reload(session);
      await backend.destroy(recordOf(session)!.storageKey);
      await expect(store.regenerate(loaded)).resolves.toBeUndefined();
      expect(loaded.isNew).toBe(true);
      expect((backend as MapBackend).size).toBe(0);
    });
  });

  describe('regenerate', () => {
    it('moves what is stored to a new id, keeping its first creation time', async () => {
      const { store, created, reload, stored } = setup({ absoluteTimeout: 100 });
      const session = await created({ user: 'ann' });
      const loaded = await reload(session);
      const oldId = loaded.id;
      // Another request's change, stored meanwhile, is kept.
      const other = await reload(session);
      other.set('cart', [1]);
      await store.save(other, owes(), false);
      now = T0 + 50_000;
      const cookie = await store.regenerate(loaded);
      expect(loaded.id).not.toBe(oldId);
      // A fresh maxAge (50 + 60 s), capped by absoluteTimeout from the first creation.
      expect(cookie).toEqual({ id: loaded.id, maxAge: 50 });
      expect(await stored(loaded)).toEqual({
        user: 'ann',
        cart: [1],
        [META_KEY]: { c: T0, e: T0 + 100_000 },
      });
    });
  });

  describe('user index', () => {
    it('refreshes the entry of a session loaded after half of maxAge, without a change', async () => {
      const backend = new MemoryBackend();
      const { store, created, reload, metaOf } = setup({ userKey: 'user' }, backend);
      const session = await created({ user: 'ann' });
      const indexAdd = jest.spyOn(backend, 'indexAdd');
      now = T0 + 31_000;
      const pending = owes();
      const loaded = await reload(session, pending);
      expect(pending.refresh).toBe(true);
      await store.save(loaded, pending, false);
      expect(indexAdd).toHaveBeenCalledTimes(1);
      expect(await metaOf(loaded)).toEqual({ c: T0, e: T0 + 60_000, i: T0 + 31_000 });
    });

    it('is not refreshed before half of maxAge', async () => {
      const { created, reload } = setup({ userKey: 'user' }, new MemoryBackend());
      const session = await created({ user: 'ann' });
      now = T0 + 29_000;
      const pending = owes();
      await reload(session, pending);
      expect(pending.refresh).toBe(false);
    });
  });

  describe('maxSessionsPerUser', () => {
    function limited(onLimit: 'evict-oldest' | 'reject', max = 1) {
      const backend = new MemoryBackend();
      const capabilities = capabilitiesOf(backend);
      const log = logger as unknown as Logger;
      const index = new UserIndex('userId', 60, capabilities, log, { max, onLimit });
      const lifetime = { maxAge: 60, rolling: false, absoluteTimeout: undefined, touchAfter: 0 };
      const store = new SessionStore(lifetime, capabilities, index, log);
      const login = () => {
        const session = new Session();
        session.set('userId', 1);
        return session;
      };
      return { backend, store, login };
    }

    it('ends a login that a concurrent one evicted before its record was written', async () => {
      now = T0;
      const { backend, store, login } = limited('evict-oldest');
      const [a, b] = [login(), login()];
      const changes = await Promise.all([
        store.save(a, owes(), false),
        store.save(b, owes(), false),
      ]);
      const live = [];
      for (const session of [a, b]) {
        const record = recordOf(session);
        if (record && (await backend.read(record.storageKey)) !== null) live.push(session);
      }
      expect(live).toHaveLength(1);
      expect(changes.filter((change) => change === 'clear')).toHaveLength(1);
      expect(await backend.indexList(ownerDigest(1))).toHaveLength(1);
    });

    it('rejects the second of two concurrent logins, storing nothing for it', async () => {
      now = T0;
      const { backend, store, login } = limited('reject');
      const results = await Promise.allSettled([
        store.save(login(), owes(), false),
        store.save(login(), owes(), false),
      ]);
      expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
      const rejected = results.find((result) => result.status === 'rejected')!;
      expect((rejected as PromiseRejectedResult).reason).toBeInstanceOf(SessionLimitError);
      expect(await backend.indexList(ownerDigest(1))).toHaveLength(1);
    });
  });
});
