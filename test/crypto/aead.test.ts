import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aeadFormat, aeadOverhead, open, seal } from '../../src/crypto/aead.js';
import { isDomicileError } from '../../src/errors/domicile-error.js';

const key = randomBytes(32);
const aad = Buffer.from('region/user/service/collection/key');

function integrityError(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isDomicileError(err, 'INTEGRITY');
  }
}

describe('aead', () => {
  it('round-trips any plaintext, with a format byte and a fresh IV each time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ maxLength: 64 }), (plain, extra) => {
        const plaintext = Buffer.from(plain);
        const a = Buffer.from(extra);
        const sealed = seal(key, plaintext, a);
        expect(sealed[0]).toBe(aeadFormat);
        expect(sealed.length).toBe(plaintext.length + aeadOverhead);
        expect(open(key, sealed, a).equals(plaintext)).toBe(true);
      }),
    );
    const one = seal(key, Buffer.from('same'), aad);
    const two = seal(key, Buffer.from('same'), aad);
    expect(one.subarray(1, 13).equals(two.subarray(1, 13))).toBe(false);
    expect(one.equals(two)).toBe(false);
  });

  it('does not hold the plaintext', () => {
    const sealed = seal(key, Buffer.from('canary-plaintext-4242'), aad);
    expect(sealed.includes(Buffer.from('canary-plaintext-4242'))).toBe(false);
  });

  it('refuses any flipped bit with INTEGRITY', () => {
    const sealed = seal(key, Buffer.from('{"name":"Lei Jun"}'), aad);
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const tampered = Buffer.from(sealed);
        tampered[i] = (tampered[i] ?? 0) ^ bit;
        expect(
          integrityError(() => open(key, tampered, aad)),
          `byte ${i} bit ${bit}`,
        ).toBe(true);
      }
    }
  });

  it('refuses the wrong associated data, the wrong key, and truncation', () => {
    const sealed = seal(key, Buffer.from('hello'), aad);
    expect(integrityError(() => open(key, sealed, Buffer.from('region/other-user/service/collection/key')))).toBe(true);
    expect(integrityError(() => open(key, sealed, Buffer.alloc(0)))).toBe(true);
    expect(integrityError(() => open(randomBytes(32), sealed, aad))).toBe(true);
    expect(integrityError(() => open(key, sealed.subarray(0, sealed.length - 1), aad))).toBe(true);
    expect(integrityError(() => open(key, sealed.subarray(0, 10), aad))).toBe(true);
    expect(open(key, sealed, aad).toString()).toBe('hello');
  });

  it('treats a wrong-length key as a programming error', () => {
    expect(() => seal(randomBytes(16), Buffer.from('x'), aad)).toThrow(/32 bytes/);
  });
});
