import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyringKeySource } from '../../src/crypto/keyring-key-source.js';
import { DomicileError } from '../../src/errors/domicile-error.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'domicile-keyring-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function caught(fn: () => unknown): DomicileError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomicileError) return err;
    throw err;
  }
  throw new Error('expected a DomicileError');
}

describe('KeyringKeySource', () => {
  it('creates a keyring with mode 0600 holding one 32-byte key for its region', () => {
    const path = join(dir, 'nested', 'keyring.json');
    const keys = KeyringKeySource.open({ path, regionId: 'sg-singapore' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(path, 'utf8')) as {
      regionId: string;
      activeKeyId: string;
      keys: Array<{ id: string; created: string; material: string }>;
    };
    expect(file.regionId).toBe('sg-singapore');
    expect(file.keys).toHaveLength(1);
    expect(file.keys[0]?.id).toBe(file.activeKeyId);
    expect(Buffer.from(file.keys[0]?.material ?? '', 'base64')).toHaveLength(32);
    expect(Number.isNaN(Date.parse(file.keys[0]?.created ?? ''))).toBe(false);
    expect(keys.kekId).toBe(file.activeKeyId);
    expect(keys.keyIds()).toEqual([file.activeKeyId]);
  });

  it('reopens the same keys: what one opening wraps, the next unwraps', () => {
    const path = join(dir, 'keyring.json');
    const first = KeyringKeySource.open({ path, regionId: 'sg-singapore' });
    const dataKey = randomBytes(32);
    const aad = Buffer.from('sg-singapore/u1');
    const wrapped = first.wrap(dataKey, aad);
    expect(wrapped.includes(dataKey)).toBe(false);
    const second = KeyringKeySource.open({ path, regionId: 'sg-singapore' });
    expect(second.unwrap(wrapped, aad).equals(dataKey)).toBe(true);
    expect(caught(() => second.unwrap(wrapped, Buffer.from('sg-singapore/u2'))).code).toBe('INTEGRITY');
  });

  it("refuses another region's keyring with a clear error", () => {
    const path = join(dir, 'keyring.json');
    KeyringKeySource.open({ path, regionId: 'cn-beijing' });
    const err = caught(() => KeyringKeySource.open({ path, regionId: 'sg-singapore' }));
    expect(err.code).toBe('FORBIDDEN');
    expect(err.message).toContain('belongs to region cn-beijing, not sg-singapore');
    expect(err.message).toContain(path);
  });

  it('cannot open keys wrapped by another region', () => {
    const a = KeyringKeySource.open({ path: join(dir, 'a.json'), regionId: 'cn-beijing' });
    const b = KeyringKeySource.open({ path: join(dir, 'b.json'), regionId: 'sg-singapore' });
    const wrapped = a.wrap(randomBytes(32), Buffer.from('x'));
    expect(caught(() => b.unwrap(wrapped, Buffer.from('x'))).code).toBe('INTEGRITY');
  });

  it('unwraps with any key it holds, so rotation can keep old keys', () => {
    const path = join(dir, 'keyring.json');
    const original = KeyringKeySource.open({ path, regionId: 'us-oregon' });
    const wrapped = original.wrap(Buffer.alloc(32, 7), Buffer.from('aad'));
    const file = JSON.parse(readFileSync(path, 'utf8')) as {
      activeKeyId: string;
      keys: Array<{ id: string; created: string; material: string }>;
    };
    file.keys.push({ id: 'k-next', created: new Date().toISOString(), material: randomBytes(32).toString('base64') });
    file.activeKeyId = 'k-next';
    writeFileSync(path, JSON.stringify(file), { mode: 0o600 });
    const rotated = KeyringKeySource.open({ path, regionId: 'us-oregon' });
    expect(rotated.kekId).toBe('k-next');
    expect(rotated.unwrap(wrapped, Buffer.from('aad')).equals(Buffer.alloc(32, 7))).toBe(true);
    const fresh = rotated.wrap(Buffer.alloc(32, 9), Buffer.from('aad'));
    expect(caught(() => original.unwrap(fresh, Buffer.from('aad'))).message).toContain('k-next');
  });

  it('refuses a keyring others can read, and a malformed one', () => {
    const path = join(dir, 'keyring.json');
    KeyringKeySource.open({ path, regionId: 'sg-singapore' });
    chmodSync(path, 0o644);
    const open = caught(() => KeyringKeySource.open({ path, regionId: 'sg-singapore' }));
    expect(open.code).toBe('FORBIDDEN');
    expect(open.message).toContain('chmod 600');

    const broken = join(dir, 'broken.json');
    writeFileSync(
      broken,
      '{"format":1,"regionId":"sg-singapore","activeKeyId":"k1","keys":[{"id":"k1","created":"now","material":"c2hvcnQ="}]}',
      { mode: 0o600 },
    );
    const err = caught(() => KeyringKeySource.open({ path: broken, regionId: 'sg-singapore' }));
    expect(err.message).toContain('5 bytes of material, not 32');

    writeFileSync(broken, 'not json', { mode: 0o600 });
    expect(caught(() => KeyringKeySource.open({ path: broken, regionId: 'sg-singapore' })).message).toContain(
      'not valid JSON',
    );
  });
});
