import { createHash, createHmac } from 'node:crypto';
import { newSessionId, SessionSigner, storageKeyOf } from './session.signer.js';

const KEY = 'k'.repeat(32);
const OLD = 'o'.repeat(32);

describe('SessionSigner', () => {
  it('signs an id as <id>.<HMAC-SHA256 base64url>', () => {
    const id = newSessionId();
    const expected = createHmac('sha256', KEY).update(id).digest('base64url');
    expect(new SessionSigner([KEY]).sign(id)).toBe(`${id}.${expected}`);
  });

  it('verifies what it signed and reports the current key', () => {
    const signer = new SessionSigner([KEY]);
    const id = newSessionId();
    expect(signer.unsign(signer.sign(id))).toEqual({ id, keyIndex: 0 });
  });

  it('verifies cookies signed by an older key of the rotation list', () => {
    const id = newSessionId();
    const old = new SessionSigner([OLD]).sign(id);
    expect(new SessionSigner([KEY, OLD]).unsign(old)).toEqual({ id, keyIndex: 1 });
  });

  it('signs with the first key only', () => {
    const id = newSessionId();
    const rotated = new SessionSigner([KEY, OLD]).sign(id);
    expect(new SessionSigner([OLD]).unsign(rotated)).toBeNull();
  });

  it('rejects a signature made with an unknown key', () => {
    const id = newSessionId();
    expect(new SessionSigner([KEY]).unsign(new SessionSigner([OLD]).sign(id))).toBeNull();
  });

  it('rejects a tampered id or signature', () => {
    const signer = new SessionSigner([KEY]);
    const value = signer.sign(newSessionId());
    const flip = (s: string, i: number) =>
      s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    expect(signer.unsign(flip(value, 0))).toBeNull();
    expect(signer.unsign(flip(value, value.length - 2))).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['no dot', 'a'.repeat(87)],
    ['short id', `${'a'.repeat(42)}.${'b'.repeat(43)}`],
    ['long signature', `${'a'.repeat(43)}.${'b'.repeat(44)}`],
    ['bad characters', `${'a'.repeat(42)}+.${'b'.repeat(43)}`],
    ['two dots', `${'a'.repeat(43)}.${'b'.repeat(20)}.${'c'.repeat(22)}`],
    ['oversized', 'a'.repeat(10_000)],
  ])('rejects a malformed value (%s) without throwing', (_name, value) => {
    expect(new SessionSigner([KEY]).unsign(value)).toBeNull();
  });
});

describe('newSessionId', () => {
  it('has 256 bits of randomness as 43 base64url characters', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('storageKeyOf', () => {
  it('is the SHA-256 digest of the session id, base64url', () => {
    const id = newSessionId();
    expect(storageKeyOf(id)).toBe(createHash('sha256').update(id).digest('base64url'));
    expect(storageKeyOf(id)).not.toContain(id);
  });
});
