import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlindIndex, normaliseEmail, normalisePhone } from '../../src/crypto/blind-index.js';
import { DomicileError } from '../../src/errors/domicile-error.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomicileError);
    expect((err as DomicileError).code).toBe('BAD_REQUEST');
    return (err as DomicileError).message;
  }
  throw new Error('expected BAD_REQUEST');
}

describe('login normalisation', () => {
  it('reduces a phone number to + and its digits', () => {
    expect(normalisePhone('+65 9123-4567')).toBe('+6591234567');
    expect(normalisePhone(' +91 (98) 1234.5678 ')).toBe('+919812345678');
    expect(normalisePhone('+8613800138000')).toBe('+8613800138000');
  });

  it('refuses malformed phone numbers, saying why', () => {
    expect(message(() => normalisePhone('91234567'))).toContain('starting with "+"');
    expect(message(() => normalisePhone('+65 9123 abc'))).toContain('only digits');
    expect(message(() => normalisePhone('+123'))).toContain('this one has 3');
    expect(message(() => normalisePhone('+1234567890123456'))).toContain('this one has 16');
    expect(message(() => normalisePhone('+0065 9123 4567'))).toContain('never starts with 0');
  });

  it('trims and lower-cases e-mail addresses', () => {
    expect(normaliseEmail('  Lei.Jun@Mi.COM ')).toBe('lei.jun@mi.com');
  });

  it('refuses malformed e-mail addresses, saying why', () => {
    expect(message(() => normaliseEmail('lei.jun'))).toContain('one "@"');
    expect(message(() => normaliseEmail('lei jun@mi.com'))).toContain('without spaces');
    expect(message(() => normaliseEmail('lei@localhost'))).toContain('domain');
    expect(message(() => normaliseEmail('lei@-mi.com'))).toContain('domain');
    expect(message(() => normaliseEmail(`${'x'.repeat(65)}@mi.com`))).toContain('at most 64');
  });
});

describe('BlindIndex', () => {
  const key = randomBytes(32);

  it('gives the same index to every spelling of one identifier', () => {
    const index = new BlindIndex(key);
    expect(index.phone('+65 9123 4567')).toBe(index.phone('+6591234567'));
    expect(index.email('Lei@Mi.com')).toBe(index.email(' lei@mi.com'));
    expect(index.phone('+6591234567')).not.toBe(index.phone('+6591234568'));
    expect(index.phone('+6591234567')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('holds no trace of the identifier and depends on the key', () => {
    const a = new BlindIndex(key);
    const b = new BlindIndex(randomBytes(32));
    const idx = a.phone('+6591234567');
    expect(idx).not.toContain('6591234567');
    expect(b.phone('+6591234567')).not.toBe(idx);
    expect(new BlindIndex(Buffer.from(key)).phone('+6591234567')).toBe(idx);
    // a text secret (as the secret file holds) is a key too
    expect(new BlindIndex('a-secret-of-enough-length-000000').email('a@b.co')).not.toBe(
      new BlindIndex('a-secret-of-enough-length-000001').email('a@b.co'),
    );
  });

  it('separates kinds, refuses short keys and malformed input', () => {
    const index = new BlindIndex(key);
    expect(index.index('phone', '+6591234567')).toBe(index.phone('+6591234567'));
    expect(() => new BlindIndex(Buffer.alloc(8))).toThrow(/at least 16 bytes/);
    expect(() => index.email('nope')).toThrow(DomicileError);
  });
});
