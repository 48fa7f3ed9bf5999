import { depthOf, nestedArrays } from '../../test/support/fixtures/values.js';
import { decode, deltaArgs, encode, expiry } from './redis.codec.js';

const odd = {
  'a lone high surrogate': '\ud83d',
  'a lone low surrogate': '\ude00',
  'a reversed pair': '\ude00\ud83d',
  'a line separator': '\u2028',
  'a paragraph separator': '\u2029',
  'a NUL': '\u0000',
  'quotes and backslashes': '"\\\\"\\',
  'an escape spelled out': '\\u007f\\/',
  'DEL and a slash': '\x7f/',
  'an astral character': '😀',
};

describe('encode and decode', () => {
  it('stores a JSON object whose fields hold the JSON text of each value', () => {
    expect(encode({ a: 1, b: 'x', list: [], obj: {} })).toBe(
      '{"a":"1","b":"\\"x\\"","list":"[]","obj":"{}"}',
    );
  });

  it.each(Object.entries(odd))('round trips %s in a value and in a name', (_what, text) => {
    const data = { value: text, [text]: { nested: [text] } };
    expect(decode(encode(data))).toEqual(data);
  });

  it('escapes lone surrogates, so the stored text is valid UTF-8', () => {
    const encoded = encode({ '\ud83d': '\ude00' });
    expect(encoded).toBe('{"\\ud83d":"\\"\\\\ude00\\""}');
    expect(Buffer.from(encoded, 'utf8').toString('utf8')).toBe(encoded);
  });

  it('round trips a key named __proto__ as a plain key', () => {
    const data = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    const decoded = decode(encode(data))!;
    expect(Object.keys(decoded)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({
      polluted: true,
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('round trips arrays nested 2,000 deep', () => {
    const decoded = decode(encode({ deep: nestedArrays(2000) }))!;
    expect(depthOf(decoded.deep)).toBe(2001);
  });

  it('leaves out values that have no JSON, as JSON.stringify does', () => {
    expect(encode({ a: undefined, f: () => 1, b: null })).toBe('{"b":"null"}');
  });

  it('round trips an empty record', () => {
    expect(decode(encode({}))).toEqual({});
  });

  it.each([
    ['an array', '[1,2,3]'],
    ['null', 'null'],
    ['a string', '"text"'],
    ['a number', '1'],
    ['a boolean', 'true'],
  ])('rejects %s, which is not an object', (_what, raw) => {
    expect(decode(raw)).toBeUndefined();
  });

  it.each([
    ['a number', '{"a":1}'],
    ['null', '{"a":null}'],
    ['an object', '{"a":{}}'],
    ['an array', '{"a":["1"]}'],
  ])('rejects a field holding %s rather than a string', (_what, raw) => {
    expect(decode(raw)).toBeUndefined();
  });

  it.each([
    ['an empty string', ''],
    ['broken JSON', '{"a": nope'],
    ['text after the object', '{"a":"1"}x'],
    ['a truncated record', '{"a":"\\"ann'],
    ['a field that is not valid JSON', '{"a":"{not json"}'],
    ['a field holding an empty string', '{"a":""}'],
  ])('rejects %s', (_what, raw) => {
    expect(decode(raw)).toBeUndefined();
  });

  it.each([
    ['JSON whitespace', ' { "a" : "1" ,\n "b":" [ 2 ]\\n" } ', { a: 1, b: [2] }],
    [
      'cjson \\/ escapes',
      '{"a\\/b":"1","c\\\\/d":"2","x":"\\"\\/\\""}',
      { 'a/b': 1, 'c\\/d': 2, x: '/' },
    ],
    ['a cjson \\u007f escape', '{"a\\u007f":"1","b\\\\u007f":"2"}', { 'a\x7f': 1, 'b\\u007f': 2 }],
    ['a repeated name (the last one wins)', '{"a":"1","a":"2"}', { a: 2 }],
    [
      'large integers, kept as JSON.parse reads them',
      '{"n":"9007199254740991"}',
      { n: 2 ** 53 - 1 },
    ],
  ])('accepts a record spelled with %s', (_what, raw, data) => {
    expect(decode(raw)).toEqual(data);
  });
});

describe('deltaArgs', () => {
  it('lists the count of fields to set, the name/value tokens, then the names to remove', () => {
    expect(deltaArgs({ set: { a: 1, b: 'x' }, unset: ['c'] })).toEqual([
      '2',
      '"a"',
      '"1"',
      '"b"',
      '"\\"x\\""',
      '"c"',
    ]);
  });

  it('removes a name set to a value without JSON', () => {
    expect(deltaArgs({ set: { a: undefined, b: 2 }, unset: [] })).toEqual([
      '1',
      '"b"',
      '"2"',
      '"a"',
    ]);
  });

  it.each(Object.entries(odd))('writes tokens for %s exactly as encode does', (_what, text) => {
    const [, name, value] = deltaArgs({ set: { [text]: { nested: [text] } }, unset: [] });
    expect(`{${name}:${value}}`).toBe(encode({ [text]: { nested: [text] } }));
  });
});

describe('expiry', () => {
  it('uses EX for whole seconds and PX for anything else, at least 1 ms', () => {
    expect(expiry(60)).toEqual(['EX', 60]);
    expect(expiry(2.5)).toEqual(['PX', 2500]);
    expect(expiry(0.0001)).toEqual(['PX', 1]);
    expect(expiry(0)).toEqual(['PX', 1]);
  });

  it('refuses a TTL that is not a finite number, naming it', () => {
    expect(() => expiry(Number.NaN)).toThrow(RangeError);
    expect(() => expiry(Infinity)).toThrow(/ttlSeconds/);
  });
});
