import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyringKeySource } from '../../src/crypto/keyring-key-source.js';
import { isDomicileError } from '../../src/errors/domicile-error.js';
import { KeyHierarchy } from '../../src/region/key-hierarchy.js';
import { encodeValue, openValue, type RecordAddress, sealValue } from '../../src/region/record-crypto.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';
import { tempDir } from './fixtures.js';

const address: RecordAddress = {
  regionId: 'sg-singapore',
  userId: 'u1',
  service: 'shop',
  collection: 'orders',
  key: 'o1',
  version: 1,
};

function fails(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isDomicileError(err, 'INTEGRITY');
  }
}

describe('record sealing', () => {
  it('binds every part of the address, even under the same key', () => {
    const key = randomBytes(32);
    const sealed = sealValue(key, encodeValue({ a: 1 }, 1024), address);
    expect(openValue(key, sealed, address)).toEqual({ a: 1 });
    for (const field of Object.keys(address) as Array<keyof RecordAddress>) {
      expect(
        fails(() => openValue(key, sealed, { ...address, [field]: `${address[field]}x` })),
        field,
      ).toBe(true);
    }
    // the fields are not simply concatenated: moving a character across a boundary changes the binding
    expect(fails(() => openValue(key, sealed, { ...address, service: 'shopo', collection: 'rders' }))).toBe(true);
  });

  it('encodes values as JSON, refusing what JSON cannot hold and what is too large', () => {
    expect(encodeValue({ b: [1, null] }, 100).toString()).toBe('{"b":[1,null]}');
    expect(() => encodeValue(undefined, 100)).toThrow(/needs a value/);
    expect(() => encodeValue(() => 1, 100)).toThrow(/needs a value/);
    expect(() => encodeValue('x'.repeat(200), 100)).toThrow(/at most 100 bytes/);
  });
});

describe('key hierarchy', () => {
  it('binds wrapped keys to their region, user and scope', async () => {
    const dir = tempDir('hierarchy');
    const store = new SqliteRegionStore({ path: join(dir.path, 'store.db') });
    await store.init();
    try {
      const keys = KeyringKeySource.open({ path: join(dir.path, 'keyring.json'), regionId: 'sg-singapore' });
      const hierarchy = new KeyHierarchy({ regionId: 'sg-singapore', store, keys });
      const k1 = await hierarchy.categoryKey('u1', 'shop/orders', true);
      expect(k1).toHaveLength(32);
      expect(await hierarchy.categoryKey('u1', 'shop/orders', false)).toEqual(k1);
      expect(await hierarchy.categoryKey('u1', 'cloud/photos', false)).toBeUndefined();
      expect((await hierarchy.categoryKey('u1', 'cloud/photos', true)).equals(k1)).toBe(false);
      expect((await hierarchy.categoryKey('u2', 'shop/orders', true)).equals(k1)).toBe(false);

      const userKey = await store.getKey('u1', '');
      const categoryKey = await store.getKey('u1', 'shop/orders');
      expect(userKey?.wrappedBy).toBe(keys.kekId);
      expect(categoryKey?.wrappedBy).toBe('user-key');

      // A fresh hierarchy (empty cache) opens the stored keys to the same bytes...
      const fresh = () => new KeyHierarchy({ regionId: 'sg-singapore', store, keys });
      expect(await fresh().categoryKey('u1', 'shop/orders', false)).toEqual(k1);
      // ...but not under another region's name, though the keyring is the same,
      await expect(
        new KeyHierarchy({ regionId: 'us-oregon', store, keys }).categoryKey('u1', 'shop/orders', false),
      ).rejects.toMatchObject({ code: 'INTEGRITY' });
      // ...nor as another user's keys,
      await store.deleteKeys('u3');
      await store.putKeysIfAbsent([{ ...userKey!, userId: 'u3' }]);
      await store.putKeysIfAbsent([{ ...categoryKey!, userId: 'u3' }]);
      await expect(fresh().categoryKey('u3', 'shop/orders', false)).rejects.toMatchObject({ code: 'INTEGRITY' });
      // ...nor as another scope of the same user.
      await store.putKeysIfAbsent([{ ...categoryKey!, scope: 'shop/device' }]);
      await expect(fresh().categoryKey('u1', 'shop/device', false)).rejects.toMatchObject({ code: 'INTEGRITY' });

      // forget() drops cached keys, so shredded keys are not served from memory
      await store.deleteKeys('u1', 'shop/');
      expect(await hierarchy.categoryKey('u1', 'shop/orders', false)).toEqual(k1);
      hierarchy.forget('u1', 'shop/');
      expect(await hierarchy.categoryKey('u1', 'shop/orders', false)).toBeUndefined();
      // ...and only that user's: a user whose id starts with the same characters keeps theirs.
      const k12 = await hierarchy.categoryKey('u12', 'shop/orders', true);
      hierarchy.forget('u1');
      expect(hierarchy.cached('u1', 'cloud/photos')).toBeUndefined();
      expect(hierarchy.cached('u12', 'shop/orders')).toEqual(k12);
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
