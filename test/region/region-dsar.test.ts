import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyringKeySource } from '../../src/crypto/keyring-key-source.js';
import { KeyHierarchy } from '../../src/region/key-hierarchy.js';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from './fixtures.js';
import { importOne, setOne } from './support/single-user-calls.js';

/** A region's side of an erasure: everything of the user goes, the log's entries naming them too, and nothing of theirs may come back. */
describe('erasure in a region', () => {
  let dir: ReturnType<typeof tempDir>;
  let node: RegionNode;
  beforeEach(async () => {
    dir = tempDir('region-dsar');
    node = await openRegionNode({
      policy: testPolicy,
      regionId: 'sg-singapore',
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
  });
  afterEach(async () => {
    await node.close();
    dir.remove();
  });

  it("exports the rest of a user's records when one fails to open, marking it (issue 14, item 10)", async () => {
    const ref = { userId: 'u2', service: 'shop', epoch: 1 };
    for (const userId of ['u1', 'u2']) {
      await node.openTenancy({ ...ref, userId, market: 'SG' });
      await node.putRecord({ ...ref, userId, collection: 'orders', key: 'o1', value: { mine: userId } });
    }
    await node.putRecord({ ...ref, collection: 'orders', key: 'o2', value: { kept: true } });
    // Another user's ciphertext put in place of u2's o1: it fails to open here.
    const store = new SqliteRegionStore({
      path: regionPaths(dir.path, 'sg-singapore').store,
      durability: 'normal',
      exclusive: false,
    });
    await store.init();
    // The store names records by keyIds (each user's own): u1's o1 and u2's o1 have different ones.
    const paths = regionPaths(dir.path, 'sg-singapore');
    const hierarchy = new KeyHierarchy({
      regionId: 'sg-singapore',
      store,
      keys: KeyringKeySource.open({ path: paths.keyring, regionId: 'sg-singapore' }),
    });
    const theirsId = (await hierarchy.names('u1', false))!.keyId('orders', 'o1');
    const mineId = (await hierarchy.names('u2', false))!.keyId('orders', 'o1');
    const theirs = await store.getRecord('u1', 'shop', 'orders', theirsId);
    const mine = await store.getRecord('u2', 'shop', 'orders', mineId);
    await store.writeRecord({
      ...ref,
      collection: 'orders',
      key: mineId,
      sealedKey: mine!.sealedKey ?? undefined,
      ifVersion: mine!.version,
      ciphertext: theirs!.ciphertext,
    });
    await store.close();
    await expectCode(node.getRecord({ ...ref, collection: 'orders', key: 'o1' }), 'INTEGRITY');
    const exported = await node.exportUser({ userId: 'u2', request: 'dsar_marked' });
    const records = exported.services.find((s) => s.service === 'shop')!.records;
    expect(records).toEqual([
      expect.objectContaining({
        key: 'o1',
        value: null,
        unreadable: expect.stringMatching(/failed its integrity check/),
      }),
      expect.objectContaining({ key: 'o2', value: { kept: true } }),
    ]);
    expect(JSON.stringify(exported)).not.toContain('"mine":"u1"');
  });

  it('takes no import, tenancy or home for an erased user afterwards, so a copy in flight cannot bring them back', async () => {
    const ref = { userId: 'u-gone', service: 'shop', epoch: 1 };
    await node.openTenancy({ ...ref, market: 'SG' });
    await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { contact: '+6591234567' } });
    const exported = await node.exportUsers({ service: 'shop', userIds: ['u-gone'] });
    expect(await node.eraseUser({ userId: 'u-gone', request: 'dsar_test1' })).toMatchObject({
      records: 1,
      tenancies: 1,
    });
    // Erasing again (a retried request) erases nothing more and records nothing twice.
    expect(await node.eraseUser({ userId: 'u-gone', request: 'dsar_test1' })).toEqual({
      records: 0,
      keys: 0,
      tenancies: 0,
    });

    // A copy still carrying them, or a batch's fence, flip or roll-back: left out, the rest goes on.
    expect(
      await importOne(node, {
        service: 'shop',
        userId: 'u-gone',
        market: 'SG',
        epoch: 1,
        states: { records: exported[0]!.records, deleted: [] },
      }),
    ).toEqual({ applied: 0 });
    await setOne(node, { service: 'shop', userId: 'u-gone', market: 'SG', epoch: 2, status: 'home', movedTo: null });
    expect(await node.exportUsers({ service: 'shop', userIds: ['u-gone'] })).toEqual([]);
    await expectCode(node.openTenancy({ ...ref, market: 'SG' }), 'CONFLICT');
    expect(await node.describeUser({ userId: 'u-gone' })).toEqual([]);

    const file = new Database(regionPaths(dir.path, 'sg-singapore').store, { readonly: true });
    try {
      // The change log named the record's key; it names nothing of the user now.
      expect(file.prepare("SELECT count(*) FROM changes WHERE user_id = 'u-gone'").pluck().get()).toBe(0);
      expect(file.prepare("SELECT count(*) FROM keys WHERE user_id = 'u-gone'").pluck().get()).toBe(0);
    } finally {
      file.close();
    }
  });

  it("does not copy in a purpose's data when the ledger the copy carries was withdrawn, and holds no key for it", async () => {
    const ref = { userId: 'u-w', service: 'messaging', epoch: 1 };
    await node.openTenancy({ ...ref, market: 'SG' });
    await node.recordConsent({ ...ref, purpose: 'address-book-sync', decision: 'grant', method: 'test', source: 't' });
    await node.putRecord({ ...ref, collection: 'contacts', key: 'c1', value: 'a friend' });
    const [user] = await node.exportUsers({ service: 'messaging', userIds: ['u-w'] });
    const ledger = user!.records.find((r) => r.collection === '_consent')!;
    const withdrawn = {
      ...ledger,
      version: ledger.version + 1,
      value: {
        purpose: 'address-book-sync',
        history: [
          ...(ledger.value as { history: unknown[] }).history,
          {
            purpose: 'address-book-sync',
            decision: 'withdraw',
            notice: null,
            method: 'test',
            jurisdiction: 'SG',
            at: Date.now(),
            source: 't',
          },
        ],
      },
    };
    const other = await openRegionNode({
      policy: testPolicy,
      regionId: 'us-oregon',
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
    try {
      // The destination takes the copy as its source now stands: withdrawn, with the contact still in the export.
      await importOne(other, {
        service: 'messaging',
        userId: 'u-w',
        market: 'SG',
        epoch: 1,
        states: { records: [withdrawn, ...user!.records.filter((r) => r.collection !== '_consent')], deleted: [] },
      });
      const file = new Database(regionPaths(dir.path, 'us-oregon').store, { readonly: true });
      try {
        expect(
          file.prepare("SELECT count(*) FROM records WHERE user_id = 'u-w' AND collection = 'contacts'").pluck().get(),
        ).toBe(0);
        expect(
          file
            .prepare("SELECT count(*) FROM keys WHERE user_id = 'u-w' AND scope = 'messaging/contacts'")
            .pluck()
            .get(),
        ).toBe(0);
        expect(
          file.prepare("SELECT count(*) FROM records WHERE user_id = 'u-w' AND collection = '_consent'").pluck().get(),
        ).toBe(1);
      } finally {
        file.close();
      }
    } finally {
      await other.close();
    }
  });
});
