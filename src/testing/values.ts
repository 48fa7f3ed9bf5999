// Values chosen to break naive encoders, for the backend conformance suite.
import { randomBytes } from 'node:crypto';
import type { SessionData } from '../backends/session-backend.js';

/** A fresh storage key: 43 base64url characters, like the SHA-256 digests the module passes. */
export function storageKey(): string {
  return randomBytes(32).toString('base64url');
}

/** Values that break naive encoders (cjson, re-stringifying, lossy numbers). */
export const TRICKY: SessionData = {
  nested: { a: { b: { c: [1, 2, { d: null }] } }, empty: {} },
  emptyArray: [],
  emptyObject: {},
  arrayOfEmpties: [[], {}, ''],
  unicode: 'héllo wörld ✓ 日本語 😀 \u2028\u2029',
  quotes: 'She said "hi" and \'bye\' \\ back\\slash \\"escaped\\" / slash \n\t\r',
  controls: '\u0000\u0001\u001f\u007f',
  maxSafe: Number.MAX_SAFE_INTEGER,
  minSafe: Number.MIN_SAFE_INTEGER,
  float: 0.1 + 0.2,
  tiny: 5e-324,
  negativeZeroish: -0.5,
  bool: false,
  nil: null,
  numericKeys: { '1': 'one', '0': 'zero' },
  '': 'empty key',
  'key with spaces and "quotes"': 1,
  __proto__key: 'x',
};

/**
 * Strings that break encoders: lone UTF-16 surrogates (which cjson and UTF-8
 * conversions reject or replace), line and paragraph separators, NUL, emoji.
 */
export const ODD_STRINGS: readonly string[] = [
  '\ud83d',
  '\ude00',
  '\ude00\ud83d',
  'a\ud83db\ude00c\udbff',
  '\u2028\u2029',
  '\u0000',
  'nul\u0000inside',
  'ends in a backslash \\',
  '\\"\\\\"",:}{',
  '😀👍🏽',
];

/** A 1 MiB string (2^20 UTF-16 units) dense with quotes, backslashes and non-ASCII. */
export const MEBIBYTE_STRING = 'ab"\\cd\né'.repeat(2 ** 17);

/** Arrays nested `depth` levels deep around one string. */
export function deepArray(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

/**
 * Session data holding every odd string as a value, inside nested values and
 * as key names, plus a 1 MiB string and arrays nested 2,000 levels deep
 * (deeper than cjson's limit of 1,000).
 */
export function oddData(): SessionData {
  const data: SessionData = {
    odd: [...ODD_STRINGS],
    nested: {
      deeper: { list: [...ODD_STRINGS] },
      named: Object.fromEntries(ODD_STRINGS.map((s, i) => [s, i])),
    },
    big: MEBIBYTE_STRING,
    deep: deepArray(2000),
  };
  ODD_STRINGS.forEach((text, i) => {
    data[`value${i}`] = text;
    data[text] = `named ${i}`;
  });
  return data;
}
