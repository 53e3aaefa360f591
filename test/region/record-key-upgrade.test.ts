import { mkdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seal } from '../../src/crypto/aead.js';
import { KeyringKeySource } from '../../src/crypto/keyring-key-source.js';
import { categoryScope, KeyHierarchy } from '../../src/region/key-hierarchy.js';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import { legacyRecordAad } from '../../src/region/record-crypto.js';
import { BlobSpillingStore } from '../../src/store/blob-spilling-store.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';
import { filesContaining, listFiles } from '../support/file-scan.js';
import { fastScrypt, tempDir, testPolicy } from './fixtures.js';

/**
 * A store written before keyIds names records by the clients' keys and seals values without
 * their version. The node upgrades it when it starts: afterwards the keys rest nowhere in
 * plaintext (rows, change log, blob folders and their address files), and every record, its
 * version and its change history read as before.
 */
const regionId = 'sg-singapore';
const phone = '6591234567';
const key = `contact-${phone}`;
const bigKey = `scan-${phone}`;

describe('a store written before keyIds', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir('key-upgrade');
  });
  afterEach(() => dir.remove());

  /** Writes rows as the previous version did: the client's key in the key column, the value sealed without its version, no sealed key. */
  async function writeLegacyStore(): Promise<void> {
    const paths = regionPaths(dir.path, regionId);
    mkdirSync(paths.dir, { recursive: true });
    const store = new BlobSpillingStore(new SqliteRegionStore({ path: paths.store }), { dir: `${paths.store}-blobs` });
    await store.init();
    const hierarchy = new KeyHierarchy({ regionId, store, keys: KeyringKeySource.open({ path: paths.keyring, regionId }) });
    const put = async (userId: string, k: string, value: unknown) => {
      const dataKey = await hierarchy.categoryKey(userId, categoryScope('shop', 'orders'), true);
      const ciphertext = seal(dataKey, Buffer.from(JSON.stringify(value)), legacyRecordAad({ regionId, userId, service: 'shop', collection: 'orders', key: k }));
      await store.writeRecord({ userId, service: 'shop', collection: 'orders', key: k, epoch: 1, ciphertext });
    };
    for (const userId of ['u1', 'u-gone']) await store.putTenancy({ userId, service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    await put('u1', key, { v: 1 });
    await put('u1', key, { v: 2 });
    await put('u1', bigKey, { blob: 'x'.repeat(80_000) });
    await put('u1', 'short-lived', 'x');
    await store.deleteRecord({ userId: 'u1', service: 'shop', collection: 'orders', key: 'short-lived', epoch: 1 });
    // A user whose data left (keys and records gone) but whose change entries name their keys.
    await put('u-gone', `gone-${phone}`, 'moved away');
    await store.purgeUser('u-gone');
    await store.deleteKeys('u-gone');
    expect(await store.countUnsealedKeys()).toBe(8);
    await store.close();
  }

  it('is upgraded when its node starts: keys hashed and sealed, values sealed for their versions, history kept', async () => {
    await writeLegacyStore();
    expect(filesContaining(dir.path, phone).length).toBeGreaterThan(0);

    const lines: string[] = [];
    const node = await openRegionNode({ policy: testPolicy, regionId, dataDir: dir.path, scrypt: fastScrypt, exclusive: false, log: (line) => lines.push(line) });
    try {
      expect(lines.join('\n')).toMatch(/upgrading 8 rows[\s\S]*upgraded to keyIds \(2 records, 6 change-log entries\)/);
      const ref = { userId: 'u1', service: 'shop', epoch: 1 };
      expect(await node.getRecord({ ...ref, collection: 'orders', key })).toMatchObject({ key, version: 2, value: { v: 2 } });
      expect((await node.listRecords(ref)).map((r) => [r.key, r.version])).toEqual([[key, 2], [bigKey, 1]]);
      const { changes } = await node.changesSince({ afterSeq: 0, limit: 100, service: 'shop' });
      expect(changes.map((c) => [c.userId, c.key, c.op, c.version])).toEqual([
        ['u1', key, 'put', 1], ['u1', key, 'put', 2], ['u1', bigKey, 'put', 1], ['u1', 'short-lived', 'put', 1], ['u1', 'short-lived', 'delete', 1],
      ]);
      // Writes go on from the kept versions.
      expect((await node.putRecord({ ...ref, collection: 'orders', key, value: { v: 3 } })).version).toBe(3);
      expect(filesContaining(dir.path, phone)).toEqual([]);
      expect(listFiles(dir.path).filter((f) => f.endsWith('address.json'))).toHaveLength(1);
    } finally {
      await node.close();
    }

    // Upgraded once: the next start has nothing to do.
    const again: string[] = [];
    const reopened = await openRegionNode({ policy: testPolicy, regionId, dataDir: dir.path, scrypt: fastScrypt, exclusive: false, log: (line) => again.push(line) });
    try {
      expect(again).toEqual([]);
      expect((await reopened.getRecord({ userId: 'u1', service: 'shop', epoch: 1, collection: 'orders', key: bigKey }))?.value).toMatchObject({ blob: 'x'.repeat(80_000) });
    } finally {
      await reopened.close();
    }
  });
});
