import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyringKeySource } from '../../src/crypto/keyring-key-source.js';
import { KeyHierarchy } from '../../src/region/key-hierarchy.js';
import type { RegionStore } from '../../src/store/region-store.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';
import { tempDir } from './fixtures.js';

/**
 * The key cache of a node that shares its store with others (a PostgreSQL node pool) keeps a
 * key only while it would hear that key's shred: nothing while its watch is lost, and not a key
 * it read from the store while a shred was heard (that key may be the one shredded).
 */
describe('a key cache that may miss shreds', () => {
  const dir = tempDir('key-cache-trust');
  afterAll(() => dir.remove());

  async function hierarchy(getKeyGate?: () => Promise<void>) {
    const sqlite = new SqliteRegionStore({ path: join(dir.path, `${Math.random()}.db`), durability: 'normal' });
    await sqlite.init();
    const store = new Proxy(sqlite, {
      get(target, prop) {
        if (prop === 'getKey' && getKeyGate)
          return async (userId: string, scope: string) => {
            const found = await target.getKey(userId, scope);
            await getKeyGate();
            return found;
          };
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as RegionStore;
    const keys = KeyringKeySource.open({ path: join(dir.path, 'keyring.json'), regionId: 'sg-singapore' });
    return { h: new KeyHierarchy({ regionId: 'sg-singapore', store, keys }), sqlite };
  }

  it('keeps no key while deaf, and starts from an empty cache when it hears again', async () => {
    const { h, sqlite } = await hierarchy();
    const made = await h.categoryKey('u1', 'cloud/contacts', true);
    expect(h.cached('u1', 'cloud/contacts')).toEqual(made);
    h.distrust();
    expect(h.cached('u1', 'cloud/contacts')).toBeUndefined();
    // Still usable, from the store each time, never kept.
    expect(await h.categoryKey('u1', 'cloud/contacts', false)).toEqual(made);
    expect(h.cached('u1', 'cloud/contacts')).toBeUndefined();
    h.trust();
    expect(await h.categoryKey('u1', 'cloud/contacts', false)).toEqual(made);
    expect(h.cached('u1', 'cloud/contacts')).toEqual(made);
    await sqlite.close();
  });

  it('does not keep a key read from the store while a shred was heard', async () => {
    let release: () => void = () => undefined;
    let gated = false;
    const { h, sqlite } = await hierarchy(() =>
      gated ? new Promise<void>((done) => (release = done)) : Promise.resolve(),
    );
    const made = await h.categoryKey('u1', 'cloud/contacts', true);
    h.forget('u1');
    gated = true;
    const reading = h.categoryKey('u1', 'cloud/contacts', false);
    await new Promise((done) => setImmediate(done));
    // The shred is heard while the read is on its way: what it brings is used once, not kept.
    h.forget('u1');
    release();
    gated = false;
    expect(await reading).toEqual(made);
    expect(h.cached('u1', 'cloud/contacts')).toBeUndefined();
    expect(h.cached('u1', '')).toBeUndefined();
    await sqlite.close();
  });
});
