import { decode, deltaParams, encode, encodeName } from './postgres.codec.js';

const odd = {
  'a lone high surrogate': '\ud83d',
  'a lone low surrogate': '\ude00',
  'a reversed pair': '\ude00\ud83d',
  'a line separator': '\u2028',
  'a NUL': '\u0000',
  'quotes and backslashes': '"\\\\"\\',
  'an astral character': '😀',
};

/** Whether jsonb takes `text` as a string: no NUL, no lone UTF-16 surrogate. */
const jsonbTakes = (text: string) =>
  !text.includes('\u0000') &&
  !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);

describe('encode and decode', () => {
  it('stores name → [position, JSON text] members', () => {
    expect(JSON.parse(encode({ b: 1, a: 'x', list: [], gone: undefined }))).toEqual({
      b: [1, '1'],
      a: [2, '"x"'],
      list: [3, '[]'],
    });
  });

  it.each(Object.entries(odd))('round-trips %s in a value and in a name', (_what, text) => {
    const data = { value: text, [text]: { nested: [text] } };
    expect(decode(encode(data))).toEqual(data);
  });

  it.each(Object.entries(odd))('stores %s as strings jsonb takes', (_what, text) => {
    const members = Object.entries(JSON.parse(encode({ [text]: text })) as object);
    expect(members.flatMap(([name, [, json]]) => [name, json]).every(jsonbTakes)).toBe(true);
  });

  it('reads keys back in their positions, not in jsonb’s order', () => {
    const stored = JSON.stringify({ a: [3, '1'], bb: [1, '2'], c: [2, '3'] });
    expect(Object.keys(decode(stored)!)).toEqual(['bb', 'c', 'a']);
  });

  it('keeps a key named __proto__ as data', () => {
    const data = JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>;
    const back = decode(encode(data))!;
    expect(Object.keys(back)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it.each([
    ['not an object', '"text"'],
    ['an array', '[]'],
    ['a member that is no pair', '{"a": "1"}'],
    ['a pair the wrong way round', '{"a": ["1", 1]}'],
    ['a value that is not JSON', '{"a": [1, "not json"]}'],
    ['a name that is not a JSON string body', '{"a\\"": [1, "1"]}'],
    ['not JSON at all', '{'],
  ])('reads %s as undefined', (_what, raw) => {
    expect(decode(raw)).toBeUndefined();
  });
});

describe('deltaParams', () => {
  it('gives the names to remove, then the names and JSON texts to set', () => {
    expect(deltaParams({ set: { a: 1, 'q"': { b: [] } }, unset: ['x', '\u0000'] })).toEqual([
      ['x', '\\u0000'],
      ['a', 'q\\"'],
      ['1', '{"b":[]}'],
    ]);
  });

  it('removes a key whose value has no JSON', () => {
    expect(deltaParams({ set: { f: () => 1, u: undefined }, unset: [] })).toEqual([
      ['f', 'u'],
      [],
      [],
    ]);
  });

  it('names members as encode does', () => {
    const name = 'a\ud800"\\\u0000';
    expect(Object.keys(JSON.parse(encode({ [name]: 1 })))).toEqual([encodeName(name)]);
  });
});
