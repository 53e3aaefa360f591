import { KeyringKeySource } from '../../src/crypto/keyring-key-source.js';
import { KeyHierarchy } from '../../src/region/key-hierarchy.js';
import { regionPaths } from '../../src/region/open-region-node.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';

/**
 * The keyId a region's store holds for a user's record key (the store never holds the key
 * itself), computed with the region's own keyring: what a test that reaches into a region's
 * database needs to find a record's row. The region's node must not hold the file's lock.
 */
export async function recordKeyId(
  dataDir: string,
  regionId: string,
  userId: string,
  collection: string,
  key: string,
): Promise<string> {
  const paths = regionPaths(dataDir, regionId);
  const store = new SqliteRegionStore({ path: paths.store });
  await store.init();
  try {
    const hierarchy = new KeyHierarchy({
      regionId,
      store,
      keys: KeyringKeySource.open({ path: paths.keyring, regionId }),
    });
    const names = await hierarchy.names(userId, false);
    if (!names) throw new Error(`user ${userId} has no user key in region ${regionId}`);
    return names.keyId(collection, key);
  } finally {
    await store.close();
  }
}
