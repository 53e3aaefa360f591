import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeValue } from '../../src/region/record-crypto.js';
import { plainHash, userDigest } from '../../src/region/user-digest.js';

describe('plaintext hashes and user digests', () => {
  it('a copy re-encodes a value to the very bytes its source held, so their hashes agree', () => {
    // The source decrypts and parses; the destination stringifies again and seals. The digest
    // compares the hashes of the two plaintexts, so the round trip must give back the same bytes.
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const stored = encodeValue(value, 1 << 20);
        const copied = encodeValue(JSON.parse(stored.toString('utf8')), 1 << 20);
        expect(copied.equals(stored)).toBe(true);
        expect(plainHash(copied)).toBe(plainHash(stored));
      }),
      { numRuns: 500 },
    );
    // Members keep the order they were written in: another order is another plaintext.
    expect(plainHash(encodeValue({ a: 1, b: 2 }, 100))).not.toBe(plainHash(encodeValue({ b: 2, a: 1 }, 100)));
    expect(plainHash(Buffer.from('1'))).not.toBe(plainHash(Buffer.from('"1"')));
    // Keyed (HMAC-SHA-256): never SHA-256 of the plaintext, which a short value could be found from.
    expect(plainHash(Buffer.from('abc'))).not.toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const key = Buffer.alloc(32, 7);
    expect(plainHash(Buffer.from('abc'), key)).toBe(createHmac('sha256', key).update('abc').digest('hex'));
  });

  it('digests the sorted list, whatever order the records come in, and any change shows', () => {
    const records = [
      { collection: 'orders', key: 'o2', version: 1, hash: plainHash(Buffer.from('"b"')) },
      { collection: 'device', key: 'd1', version: 4, hash: plainHash(Buffer.from('{"x":1}')) },
      { collection: 'orders', key: 'o1', version: 2, hash: plainHash(Buffer.from('"a"')) },
    ];
    const digest = userDigest('u1', records);
    expect(digest.records.map((r) => `${r.collection}/${r.key}`)).toEqual(['device/d1', 'orders/o1', 'orders/o2']);
    expect(userDigest('u1', [...records].reverse())).toEqual(digest);
    const changed = [
      records.map((r) => (r.key === 'o1' ? { ...r, version: 3 } : r)),
      records.map((r) => (r.key === 'o1' ? { ...r, hash: plainHash(Buffer.from('"A"')) } : r)),
      records.map((r) => (r.key === 'o1' ? { ...r, key: 'o0' } : r)),
      records.slice(1),
    ];
    for (const other of changed) expect(userDigest('u1', other).digest).not.toBe(digest.digest);
    expect(userDigest('u1', []).digest).toMatch(/^[0-9a-f]{64}$/);
  });
});
