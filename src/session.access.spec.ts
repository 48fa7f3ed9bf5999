import { inspect } from 'node:util';
import { SessionValueError } from './session.errors.js';
import { isModified, Session, sessionInternals } from './session.js';

type Legacy = Session & Record<string, any>;

const internals = sessionInternals();

/** A session as loaded from a record holding `data` (nothing changed yet). */
function loaded(data: Record<string, unknown>): Legacy {
  const session = new Session(structuredClone(data)) as Legacy;
  return session;
}

function changes(session: Session): { changed: string[]; deleted: string[] } {
  isModified(session);
  return {
    changed: [...internals.changed(session)].sort(),
    deleted: [...internals.deleted(session)].sort(),
  };
}

describe('Session property access (express-session style)', () => {
  it('reads, writes, deletes and lists data keys as properties', () => {
    const session = loaded({ views: 1, flash: { info: ['hi'] } });
    session.views++;
    session.user = 'ann';
    delete session.flash;
    expect(session.get('views')).toBe(2);
    expect(session.get('user')).toBe('ann');
    expect('flash' in session).toBe(false);
    expect('user' in session).toBe(true);
    expect(Object.keys(session)).toEqual(['views', 'user']);
    expect({ ...session }).toEqual({ views: 2, user: 'ann' });
    expect(changes(session)).toEqual({ changed: ['user', 'views'], deleted: ['flash'] });
  });

  it('refuses "__proto__" by property without advising set(), which refuses it too', () => {
    const session = loaded({});
    let error: unknown;
    try {
      (session as Record<string, unknown>)['__proto__'] = { admin: true };
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SessionValueError);
    expect((error as Error).message).toMatch(/"__proto__" is reserved/);
    expect((error as Error).message).not.toMatch(/session\.set/);
    expect(() => session.set('__proto__', 1)).toThrow(/"__proto__" is reserved/);
    expect(session.keys()).toEqual([]);
  });

  it('keeps the session a Session whose methods and accessors work through property access', () => {
    const session = loaded({ a: 1 });
    expect(session instanceof Session).toBe(true);
    expect(session.has('a')).toBe(true);
    expect(session.keys()).toEqual(['a']);
    expect(session.id).toBe('');
    expect(session.isNew).toBe(true);
    expect(JSON.stringify(session)).toBe('{"a":1}');
    expect('get' in session).toBe(true);
  });

  it('hands out nested objects live: a mutation is a change, found at save time', () => {
    const session = loaded({ passport: { user: 1 }, cart: ['a'], other: { x: 1 } });
    session.passport.user = 2;
    session.cart.push('b');
    void session.other.x;
    expect(changes(session)).toEqual({ changed: ['cart', 'passport'], deleted: [] });
    expect(session.get('passport')).toEqual({ user: 2 });
    expect(session.get('cart')).toEqual(['a', 'b']);
  });

  it('writes nothing for a nested object read but not changed', () => {
    const session = loaded({ passport: { user: 1 } });
    expect(session.passport.user).toBe(1);
    expect(isModified(session)).toBe(false);
  });

  it('sees a change made after a save to an object handed out before it', () => {
    const session = loaded({ cart: [] });
    const cart = session.cart as string[];
    cart.push('a');
    expect(isModified(session)).toBe(true);
    internals.check(session);
    internals.saved(session);
    expect(isModified(session)).toBe(false);
    cart.push('b');
    expect(changes(session).changed).toEqual(['cart']);
  });

  it('keeps a plain object or array assigned by property itself, so later changes to it count', () => {
    const session = loaded({});
    const flash: Record<string, string[]> = {};
    session.flash = flash;
    internals.saved(session);
    flash.info = ['saved'];
    expect(changes(session).changed).toEqual(['flash']);
    expect(session.get('flash')).toEqual({ info: ['saved'] });
  });

  it('still copies with get() and set()', () => {
    const session = loaded({ cart: ['a'] });
    (session.get('cart') as string[]).push('b');
    const mine = ['x'];
    session.set('mine', mine);
    internals.saved(session);
    mine.push('y');
    expect(isModified(session)).toBe(false);
    expect(session.get('cart')).toEqual(['a']);
  });

  it('refuses a value JSON cannot hold, assigned by property, naming the key', () => {
    const session = loaded({});
    expect(() => (session.when = new Map())).toThrow(SessionValueError);
    expect(() => (session.when = new Map())).toThrow('Session value for key "when"');
    expect('when' in session).toBe(false);
  });

  it('fails the save, naming the key, when a live object was changed into something JSON cannot hold', () => {
    const session = loaded({ cart: [] });
    session.cart.push(new Map());
    expect(isModified(session)).toBe(true);
    expect(() => internals.check(session)).toThrow('Session value for key "cart"');
    session.cart.pop();
    expect(() => internals.check(session)).not.toThrow();
  });

  it('fails the save for a cycle made through a live object', () => {
    const session = loaded({ node: {} });
    session.node.self = session.node;
    expect(() => internals.check(session)).toThrow(/Session value for key "node"/);
  });

  it("keeps the session's own names out of property access: reachable through get/set only", () => {
    const session = loaded({ save: 'data', then: 1 });
    expect(typeof session.save).toBe('function');
    expect(session.then).toBeUndefined();
    expect(session.get('save')).toBe('data');
    const loose = session as unknown as Record<string, unknown>;
    expect(() => (loose.cookie = {})).toThrow('Session key "cookie" is a name of the session');
    expect(() => Reflect.set(session, 'toString', 'x')).toThrow(SessionValueError);
    expect(Object.keys(session)).toEqual([]);
    expect(session.keys()).toEqual(['save', 'then']);
    expect('save' in session).toBe(true);
  });

  it('refuses getters and setters defined as data keys', () => {
    const session = loaded({});
    expect(() => Object.defineProperty(session, 'x', { get: () => 1 })).toThrow(
      'cannot be a getter or setter',
    );
    Object.defineProperty(session, 'y', { value: 2 });
    expect(session.get('y')).toBe(2);
  });

  it('keeps symbols on the object, not in the data', () => {
    const session = loaded({});
    const tag = Symbol('tag');
    session[tag as unknown as string] = 'mine';
    expect(session[tag as unknown as string]).toBe('mine');
    expect(session.keys()).toEqual([]);
    expect(Object.getOwnPropertySymbols(session)).toEqual([tag]);
    expect(delete session[tag as unknown as string]).toBe(true);
  });

  it('shows its data, and nothing of its bookkeeping, to console.log and reflection', () => {
    const session = loaded({ a: 1, b: { c: 2 } });
    expect(inspect(session)).toBe('{ a: 1, b: { c: 2 } }');
    expect(Reflect.ownKeys(session)).toEqual(['a', 'b']);
    expect(Object.getOwnPropertySymbols(session)).toEqual([]);
  });

  it('cannot be frozen or given another prototype', () => {
    const session = loaded({});
    expect(() => Object.freeze(session)).toThrow(TypeError);
    expect(() => Object.setPrototypeOf(session, null)).toThrow(TypeError);
  });

  it('says to use request.session when its express-session methods are called outside a request', () => {
    const session = loaded({});
    expect(() => session.save()).toThrow('belongs to no request');
    expect(() => session.cookie).toThrow('belongs to no request');
  });
});
