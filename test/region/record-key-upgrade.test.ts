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
    const hierarchy = new KeyHierarchy({
      regionId,
      store,
      keys: KeyringKeySource.open({ path: paths.keyring, regionId }),
    });
    const put = async (userId: string, k: string, value: unknown) => {
      const dataKey = await hierarchy.categoryKey(userId, categoryScope('shop', 'orders'), true);
      const ciphertext = seal(
        dataKey,
        Buffer.from(JSON.stringify(value)),
        legacyRecordAad({ regionId, userId, service: 'shop', collection: 'orders', key: k }),
      );
      await store.writeRecord({ userId, service: 'shop', collection: 'orders', key: k, epoch: 1, ciphertext });
    };
    for (const userId of ['u1', 'u-gone'])
      await store.putTenancy({ userId, service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
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

  /**
   * What someone with write access to the database and a backup from before the upgrade could
   * do: put an old row back (the client's key in plaintext, no sealed key, sealed without its
   * version). Once a store's upgrade has run, such a row is never re-sealed as current.
   */
  async function plantLegacyRow(userId: string, k: string, value: unknown): Promise<void> {
    const paths = regionPaths(dir.path, regionId);
    const store = new BlobSpillingStore(new SqliteRegionStore({ path: paths.store }), { dir: `${paths.store}-blobs` });
    await store.init();
    const hierarchy = new KeyHierarchy({
      regionId,
      store,
      keys: KeyringKeySource.open({ path: paths.keyring, regionId }),
    });
    const dataKey = await hierarchy.categoryKey(userId, categoryScope('shop', 'orders'), true);
    const ciphertext = seal(
      dataKey,
      Buffer.from(JSON.stringify(value)),
      legacyRecordAad({ regionId, userId, service: 'shop', collection: 'orders', key: k }),
    );
    await store.writeRecord({ userId, service: 'shop', collection: 'orders', key: k, epoch: 1, ciphertext });
    await store.close();
  }

  async function unsealedRows(): Promise<number> {
    const store = new SqliteRegionStore({ path: regionPaths(dir.path, regionId).store });
    await store.init();
    try {
      return await store.countUnsealedKeys();
    } finally {
      await store.close();
    }
  }

  it('a row put back without its sealed key after the upgrade is an integrity failure, never re-sealed', async () => {
    await writeLegacyStore();
    const first = await openRegionNode({
      policy: testPolicy,
      regionId,
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
    await first.close();
    expect(await unsealedRows()).toBe(0);

    await plantLegacyRow('u1', 'restored-from-backup', { v: 'old' });
    expect(await unsealedRows()).toBe(2);
    await expect(
      openRegionNode({ policy: testPolicy, regionId, dataDir: dir.path, scrypt: fastScrypt, exclusive: false }),
    ).rejects.toMatchObject({ code: 'INTEGRITY', message: expect.stringMatching(/2 rows .*no sealed key.*upgraded/) });
    expect(await unsealedRows()).toBe(2);
  });

  it('a store that started at keyIds never upgrades a row planted later', async () => {
    const node = await openRegionNode({
      policy: testPolicy,
      regionId,
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
    await node.openTenancy({ userId: 'u1', service: 'shop', epoch: 1, market: 'SG' });
    await node.putRecord({
      userId: 'u1',
      service: 'shop',
      epoch: 1,
      collection: 'orders',
      key: 'current',
      value: { v: 1 },
    });
    await node.close();

    await plantLegacyRow('u1', 'planted', { v: 'laundered?' });
    await expect(
      openRegionNode({ policy: testPolicy, regionId, dataDir: dir.path, scrypt: fastScrypt, exclusive: false }),
    ).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(await unsealedRows()).toBe(2);
  });

  it('is upgraded when its node starts: keys hashed and sealed, values sealed for their versions, history kept', async () => {
    await writeLegacyStore();
    expect(filesContaining(dir.path, phone).length).toBeGreaterThan(0);

    const lines: string[] = [];
    const node = await openRegionNode({
      policy: testPolicy,
      regionId,
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
      log: (line) => lines.push(line),
    });
    try {
      expect(lines.join('\n')).toMatch(/upgrading 8 rows[\s\S]*upgraded to keyIds \(2 records, 6 change-log entries\)/);
      const ref = { userId: 'u1', service: 'shop', epoch: 1 };
      expect(await node.getRecord({ ...ref, collection: 'orders', key })).toMatchObject({
        key,
        version: 2,
        value: { v: 2 },
      });
      expect((await node.listRecords(ref)).map((r) => [r.key, r.version])).toEqual([
        [key, 2],
        [bigKey, 1],
      ]);
      const { changes } = await node.changesSince({ afterSeq: 0, limit: 100, service: 'shop' });
      expect(changes.map((c) => [c.userId, c.key, c.op, c.version])).toEqual([
        ['u1', key, 'put', 1],
        ['u1', key, 'put', 2],
        ['u1', bigKey, 'put', 1],
        ['u1', 'short-lived', 'put', 1],
        ['u1', 'short-lived', 'delete', 1],
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
    const reopened = await openRegionNode({
      policy: testPolicy,
      regionId,
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
      log: (line) => again.push(line),
    });
    try {
      expect(again).toEqual([]);
      expect(
        (await reopened.getRecord({ userId: 'u1', service: 'shop', epoch: 1, collection: 'orders', key: bigKey }))
          ?.value,
      ).toMatchObject({ blob: 'x'.repeat(80_000) });
    } finally {
      await reopened.close();
    }
  });
});
