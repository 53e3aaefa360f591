import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashPassword, parsePasswordHash, type ScryptParams, verifyPassword } from '../../src/crypto/password.js';
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

  it('refuses control characters and unpaired surrogates, which scrypt cannot tell apart from others', async () => {
    // The cause: scrypt keys HMAC-SHA256 with the password, and HMAC zero-pads short keys, so
    // trailing NULs vanish; an unpaired surrogate is encoded as U+FFFD like any other.
    const salt = Buffer.alloc(16);
    expect(scryptSync('ab\u0000\u0000\u0000\u0000\u0000\u0000', salt, 16, { N: 1024 })).toEqual(
      scryptSync('ab', salt, 16, { N: 1024 }),
    );
    expect(scryptSync('ab\ud800', salt, 16, { N: 1024 })).toEqual(scryptSync('ab\udfff', salt, 16, { N: 1024 }));

    const ab = await hashPassword('ab', fast);
    for (const bad of [
      'ab\u0000\u0000\u0000\u0000\u0000\u0000',
      '\u0000'.repeat(8),
      'tab\there',
      'del\u007f',
      'c1\u0085',
      'lone\ud800',
      'lone\udfff',
    ]) {
      await expect(hashPassword(bad, fast), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        details: { field: 'password' },
      });
      await expect(verifyPassword(bad, ab), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        details: { field: 'password' },
      });
    }
    // Paired surrogates (emoji) and letters beyond ASCII are ordinary characters.
    expect(await verifyPassword('ab-😀-ü', await hashPassword('ab-😀-ü', fast))).toBe(true);
  });
});
