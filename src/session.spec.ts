import { runInNewContext } from 'node:vm';
import { SessionValueError } from './session.errors.js';
import { MAX_JSON_DEPTH } from './session.json.js';
import { isModified, Session, sessionInternals } from './session.js';
import { depthOf, nestedArrays } from '../test/support/fixtures/values.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

class Money {
  constructor(readonly cents: number) {}
  toJSON(): unknown {
    return { cents: this.cents, currency: 'EUR' };
  }
}

class Hidden {
  toJSON(): undefined {
    return undefined;
  }
}

/** Calls `fn` under `frames` extra stack frames. */
function underFrames<R>(frames: number, fn: () => R): R {
  return frames === 0 ? fn() : [underFrames(frames - 1, fn)][0];
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

interface Shop {
  [key: string]: unknown;
  cart: { sku: string; qty: number }[];
  userId: number;
  name: string;
}

const internals = sessionInternals();

describe('Session', () => {
  it('takes a number key as its string, and refuses a symbol key', () => {
    const session = new Session();
    session.set(7 as unknown as string, 'seven');
    expect(session.keys()).toEqual(['7']);
    expect(session.has(7 as unknown as string)).toBe(true);
    expect(session.get(7 as unknown as string)).toBe('seven');
    expect(session.delete(7 as unknown as string)).toBe(true);
    expect([...sessionInternals().deleted(session)]).toEqual(['7']);
    expect(() => session.set(Symbol('s') as unknown as string, 1)).toThrow(SessionValueError);
    expect(session.keys()).toEqual([]);
  });

  it('starts new, empty and without an id', () => {
    const session = new Session();
    expect(session.id).toBe('');
    expect(session.isNew).toBe(true);
    expect(session.keys()).toEqual([]);
  });

  it('gets what was set, and the fallback for absent keys', () => {
    const session = new Session<Shop>();
    session.set('userId', 7).set('name', 'Ada');
    expect(session.get('userId')).toBe(7);
    expect(session.get('name', 'nobody')).toBe('Ada');
    expect(session.get('cart')).toBeUndefined();
    expect(session.get('cart', [])).toEqual([]);
    expect(session.has('userId')).toBe(true);
    expect(session.keys()).toEqual(['userId', 'name']);
  });

  it('returns copies: mutating a read value does not change the session', () => {
    const session = new Session<Shop>();
    session.set('cart', [{ sku: 'a', qty: 1 }]);
    session.get('cart')![0].qty = 99;
    expect(session.get('cart')).toEqual([{ sku: 'a', qty: 1 }]);
  });

  it('stores copies: mutating the value after set does not change the session', () => {
    const session = new Session<Shop>();
    const cart = [{ sku: 'a', qty: 1 }];
    session.set('cart', cart);
    cart.push({ sku: 'b', qty: 2 });
    expect(session.get('cart')).toHaveLength(1);
  });

  it('deletes keys and says whether they were there', () => {
    const session = new Session<Shop>();
    session.set('userId', 1);
    expect(session.delete('userId')).toBe(true);
    expect(session.delete('userId')).toBe(false);
    expect(session.has('userId')).toBe(false);
  });

  it('clears every key', () => {
    const session = new Session<Shop>();
    session.set('userId', 1).set('name', 'x');
    session.clear();
    expect(session.keys()).toEqual([]);
    expect(session.toJSON()).toEqual({});
  });

  it('serialises to a copy of its data', () => {
    const session = new Session<Shop>();
    session.set('cart', [{ sku: 'a', qty: 1 }]);
    const json = session.toJSON();
    json.cart![0].qty = 5;
    expect(JSON.stringify(session)).toBe('{"cart":[{"sku":"a","qty":1}]}');
  });

  it('stores Dates as the string JSON makes of them', () => {
    const session = new Session();
    const when = new Date('2026-01-02T03:04:05.000Z');
    session.set('when', when);
    expect(session.get('when')).toBe('2026-01-02T03:04:05.000Z');
  });

  it.each([
    ['a BigInt', 10n, 'bigint'],
    ['a function', () => 1, 'function'],
    ['a symbol', Symbol('s'), 'symbol'],
    ['undefined', undefined, 'undefined'],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['a nested function', { a: [1, { b: () => 1 }] }, 'cart.a[1].b'],
  ])(
    'refuses %s with an error naming the key, leaving the session unchanged',
    (_name, value, detail) => {
      const session = new Session();
      session.set('cart', 'before');
      expect(() => session.set('cart', value)).toThrow(SessionValueError);
      expect(() => session.set('cart', value)).toThrow(/"cart"/);
      expect(() => session.set('cart', value)).toThrow(
        new RegExp(detail.replace(/[[\].]/g, '\\$&')),
      );
      expect(session.get('cart')).toBe('before');
    },
  );

  it('refuses a circular value', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(() => new Session().set('loop', loop)).toThrow(/"loop".*circular/);
  });

  it('accepts a value that appears twice without being circular', () => {
    const shared = { x: 1 };
    const session = new Session();
    session.set('pair', [shared, shared]);
    expect(session.get('pair')).toEqual([{ x: 1 }, { x: 1 }]);
  });

  it('reserves the bookkeeping key', () => {
    expect(() => new Session().set('__session', 1)).toThrow(/reserved/);
  });

  describe('setMaxAge', () => {
    it('sets a lifetime of its own, counts as a change, and keeps the cookie kind unless given', () => {
      const session = new Session();
      expect(session.maxAge).toBeUndefined();
      expect(session.setMaxAge(600, { persistent: false })).toBe(session);
      expect(session.maxAge).toBe(600);
      expect(isModified(session)).toBe(true);
      session.setMaxAge(1200);
      expect(internals.lifetime(session)).toEqual({ maxAge: 1200, persistent: false });
      session.setMaxAge(null);
      expect(session.maxAge).toBeUndefined();
      internals.reset(session);
      expect(internals.lifetime(session)).toEqual({});
      expect(isModified(session)).toBe(false);
    });

    it.each([0, -1, NaN, Infinity, 34_560_001, '60', undefined])(
      'throws a RangeError for %p, leaving the session unchanged',
      (seconds) => {
        const session = new Session();
        expect(() => session.setMaxAge(seconds as number)).toThrow(RangeError);
        expect(session.maxAge).toBeUndefined();
        expect(isModified(session)).toBe(false);
      },
    );

    it('accepts exactly 400 days, and throws a TypeError for a persistent that is no boolean', () => {
      const session = new Session();
      expect(session.setMaxAge(34_560_000).maxAge).toBe(34_560_000);
      expect(() => session.setMaxAge(60, { persistent: 1 as unknown as boolean })).toThrow(
        /`persistent` to be true or false, got number 1/,
      );
    });
  });

  describe('values that JSON would silently change', () => {
    const sparse = [1, 2, 3];
    delete sparse[1];
    const holey = [1, 2, 3];
    holey.length = 5;
    it.each([
      ['a Map', new Map([['a', 1]]), 'Map', 'cart'],
      ['a Set', new Set([1]), 'Set', 'cart'],
      ['a class instance without toJSON', new Point(1, 2), 'Point', 'cart'],
      [
        'a nested class instance',
        { items: [{ at: new Point(1, 2) }] },
        'Point',
        'cart.items[0].at',
      ],
      ['a Uint8Array', new Uint8Array([1, 2]), 'Uint8Array', 'cart'],
      ['a WeakMap', new WeakMap(), 'WeakMap', 'cart'],
      ['a Promise', Promise.resolve(1), 'Promise', 'cart'],
      ['a RegExp', /x/g, 'RegExp', 'cart'],
      ['an Error', new Error('x'), 'Error', 'cart'],
      ['a boxed string', Object('x'), 'String', 'cart'],
      [
        'an object with a custom prototype',
        Object.create({ inherited: 1 }),
        'custom prototype',
        'cart',
      ],
      ['an array grown by length', holey, 'empty array slot', 'cart[3]'],
      ['a deleted array element', { list: sparse }, 'empty array slot', 'cart.list[1]'],
      ['an empty new Array(2)', new Array(2), 'empty array slot', 'cart[0]'],
      ['undefined in an array', [1, undefined], 'undefined', 'cart[1]'],
      ['undefined in an object', { a: undefined }, 'undefined', 'cart.a'],
      [
        'a nested toJSON returning undefined',
        { total: new Hidden() },
        'toJSON() of a Hidden',
        'cart.total',
      ],
      ['a toJSON returning undefined', new Hidden(), 'toJSON() of a Hidden', 'cart'],
      [
        'a toJSON returning a Map',
        { toJSON: () => new Map() },
        'a Map returned by toJSON()',
        'cart',
      ],
      [
        'a toJSON returning a Date (its toJSON is not called again)',
        { toJSON: () => new Date(0) },
        'a Date returned by toJSON()',
        'cart',
      ],
      [
        'a toJSON returning an object with a function',
        { toJSON: () => ({ a: 1, f: () => 1 }) },
        'function',
        'cart.f',
      ],
    ])(
      'refuses %s with an error naming the key and the path, leaving the session unchanged',
      (_name, value, detail, path) => {
        const session = new Session();
        session.set('cart', 'before');
        const error = errorOf(() => session.set('cart', value));
        expect(error).toBeInstanceOf(SessionValueError);
        expect(error.message).toContain('"cart"');
        expect(error.message).toContain(detail);
        expect(error.message).toMatch(new RegExp(`at ${path.replace(/[[\].]/g, '\\$&')}$`));
        expect(session.get('cart')).toBe('before');
        expect(isModified(session)).toBe(true);
      },
    );

    it('says what to do with a Map', () => {
      expect(() => new Session().set('m', new Map())).toThrow(/toJSON\(\) method/);
    });

    it('stores what toJSON returns, calling it once with the property name as JSON.stringify does', () => {
      const calls: string[] = [];
      const tracked = (result: unknown) => ({
        toJSON(key: string) {
          calls.push(key);
          return result;
        },
      });
      const session = new Session();
      session.set('order', {
        total: new Money(250),
        lines: [tracked('first'), tracked({ nested: new Money(1) })],
      });
      session.set('top', tracked(7));
      expect(session.get('order')).toEqual({
        total: { cents: 250, currency: 'EUR' },
        lines: ['first', { nested: { cents: 1, currency: 'EUR' } }],
      });
      expect(session.get('top')).toBe(7);
      expect(calls).toEqual(['0', '1', 'top']);
    });

    it('stores a Buffer as what its toJSON returns', () => {
      const session = new Session();
      session.set('bytes', Buffer.from('hi'));
      expect(session.get('bytes')).toEqual({ type: 'Buffer', data: [104, 105] });
    });

    it('stores Dates nested in plain data as strings', () => {
      const session = new Session();
      session.set('log', [{ at: new Date(0) }]);
      expect(session.get('log')).toEqual([{ at: '1970-01-01T00:00:00.000Z' }]);
    });

    it('accepts objects without a prototype and plain objects from another realm', () => {
      const bare = Object.assign(Object.create(null) as object, { a: 1 });
      const foreign = runInNewContext('({ a: { b: [1, 2] } })') as unknown;
      const session = new Session();
      session.set('bare', bare).set('foreign', foreign);
      expect(session.get('bare')).toEqual({ a: 1 });
      expect(session.get('foreign')).toEqual({ a: { b: [1, 2] } });
    });

    it('stores -0 as 0, as JSON does', () => {
      const session = new Session();
      session.set('zero', -0).set('list', [-0]);
      expect(Object.is(session.get('zero'), 0)).toBe(true);
      expect(Object.is((session.get('list') as number[])[0], 0)).toBe(true);
    });
  });

  describe('"__proto__"', () => {
    it('refuses "__proto__" as a key, without touching the data object\'s prototype', () => {
      const session = new Session();
      const error = errorOf(() => session.set('__proto__', { admin: true }));
      expect(error).toBeInstanceOf(SessionValueError);
      expect(error.message).toMatch(/"__proto__" is reserved/);
      expect(session.get('admin')).toBeUndefined();
      expect(session.has('admin')).toBe(false);
      expect(session.keys()).toEqual([]);
      expect(isModified(session)).toBe(false);
      expect(JSON.stringify(session)).toBe('{}');
    });

    it('keeps a nested "__proto__" key (as JSON.parse makes one) as plain data', () => {
      const value = JSON.parse('{"__proto__": {"admin": true}, "name": "x"}') as object;
      const session = new Session();
      session.set('profile', value);
      const stored = session.get('profile') as Record<string, unknown>;
      expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
      expect(Object.hasOwn(stored, '__proto__')).toBe(true);
      expect(stored.admin).toBeUndefined();
      expect(JSON.stringify(session)).toBe('{"profile":{"__proto__":{"admin":true},"name":"x"}}');
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });
  });

  describe('deep values', () => {
    it('accepts and stores 2,000 levels of nested arrays', () => {
      const session = new Session();
      session.set('deep', nestedArrays(2000));
      expect(depthOf(session.get('deep'))).toBe(2001);
      expect(JSON.stringify(session)).toHaveLength('{"deep":}'.length + 2 * 2001);
    });

    it(`accepts nesting up to ${MAX_JSON_DEPTH} levels, and refuses deeper with "nested too deeply"`, () => {
      const session = new Session();
      session.set('deep', nestedArrays(MAX_JSON_DEPTH - 1));
      const error = errorOf(() => session.set('deep', nestedArrays(MAX_JSON_DEPTH)));
      expect(error).toBeInstanceOf(SessionValueError);
      expect(error.message).toMatch(/"deep".*nested too deeply/);
      expect(depthOf(session.get('deep'))).toBe(MAX_JSON_DEPTH);
    });

    it('refuses extreme nesting with a SessionValueError, not a RangeError', () => {
      let value: unknown = 1;
      for (let level = 0; level < 200_000; level++) value = { a: value };
      expect(() => new Session().set('deep', value)).toThrow(/"deep".*nested too deeply/);
    });

    it('turns a stack overflow while checking into a SessionValueError', () => {
      // The most frames underFrames can stack here, found by bisection.
      let [fits, overflows] = [0, 1_000_000];
      while (overflows - fits > 1) {
        const middle = Math.floor((fits + overflows) / 2);
        try {
          underFrames(middle, () => 0);
          fits = middle;
        } catch {
          overflows = middle;
        }
      }
      // Leave room for set itself, but not for 2,000 levels of walking.
      const error = underFrames(Math.max(0, fits - 400), () =>
        errorOf(() => new Session().set('deep', nestedArrays(2000))),
      );
      expect(error).toBeInstanceOf(SessionValueError);
      expect(error.message).toMatch(/"deep".*nested too deeply for the call stack/);
    });
  });
});
