import { describe, expect, it } from 'vitest';
import { hashPassword, parsePasswordHash, verifyPassword, type ScryptParams } from '../../src/crypto/password.js';
import { DomicileError } from '../../src/errors/domicile-error.js';

const fast: ScryptParams = { logN: 10, r: 8, p: 1 };

describe('password hashing', () => {
  it('verifies the right password and refuses others', async () => {
    const hash = await hashPassword('correct horse battery staple', fast);
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', hash)).toBe(false);
    expect(await verifyPassword('Correct horse battery staple', hash)).toBe(false);
  });

  it('salts every hash and encodes its parameters', async () => {
    const one = await hashPassword('same password', fast);
    const two = await hashPassword('same password', fast);
    expect(one).not.toBe(two);
    expect(one).not.toContain('same password');
    expect(one.startsWith('scrypt$10$8$1$')).toBe(true);
    const parsed = parsePasswordHash(one);
    expect(parsed.params).toEqual(fast);
    expect(parsed.salt).toHaveLength(16);
    expect(parsed.hash).toHaveLength(32);
  });

  it('uses the default (stronger) parameters unless told otherwise, and verifies across them', async () => {
    const strong = await hashPassword('pw-default');
    expect(strong.startsWith('scrypt$15$8$1$')).toBe(true);
    expect(await verifyPassword('pw-default', strong)).toBe(true);
  });

  it('refuses empty or huge passwords and malformed hashes', async () => {
    await expect(hashPassword('', fast)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(hashPassword('x'.repeat(1025), fast)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(verifyPassword('pw', 'md5$abc')).rejects.toBeInstanceOf(DomicileError);
    await expect(verifyPassword('pw', 'scrypt$40$8$1$c2FsdA$aGFzaA')).rejects.toMatchObject({ code: 'INTEGRITY' });
  });
});
