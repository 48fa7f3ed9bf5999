import { SessionValueError } from './session.errors.js';
import { Session } from './session.js';

interface Shop {
  [key: string]: unknown;
  cart: { sku: string; qty: number }[];
  userId: number;
  name: string;
}

describe('Session', () => {
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
});
