import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { recordKeyId } from '../support/record-key-id.js';
import { expectCode, fastScrypt, filesHoldingBytes, filesUnder, tempDir, testPolicy } from './fixtures.js';

/** The files (if any) in which any encoding of a needle appears, byte for byte. */
function filesHolding(dir: string, needle: string): string[] {
  const encodings = [
    Buffer.from(needle, 'utf8'),
    Buffer.from(needle, 'utf16le'),
    Buffer.from(Buffer.from(needle).toString('base64').slice(0, 16)),
    Buffer.from(Buffer.from(needle).toString('hex')),
  ];
  return [...new Set(encodings.flatMap((e) => filesHoldingBytes(dir, e)))];
}

describe('encryption at rest', () => {
  let dir: ReturnType<typeof tempDir>;
  let node: RegionNode;

  beforeEach(async () => {
    dir = tempDir('at-rest');
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

  it('a canary written through the node appears in no file under the data folder', async () => {
    const canary = 'CANARY-7f3a9c-Lei-Jun-Beijing';
    const phone = '+6598765432';
    const email = 'canary.7f3a9c@example.com';
    const password = 'canary-password-7f3a9c';
    for (const service of ['account', 'messaging', 'shop'])
      await node.openTenancy({ userId: 'u-canary', service, epoch: 1, market: 'SG' });
    await node.setCredentials({ userId: 'u-canary', service: 'account', epoch: 1, phone, email, password });
    await node.putRecord({
      userId: 'u-canary',
      service: 'shop',
      epoch: 1,
      collection: 'orders',
      key: 'o1',
      value: { note: canary },
    });
    await node.recordConsent({
      userId: 'u-canary',
      service: 'messaging',
      epoch: 1,
      purpose: 'address-book-sync',
      decision: 'grant',
      method: 'test',
      source: 'test',
    });
    await node.putRecord({
      userId: 'u-canary',
      service: 'messaging',
      epoch: 1,
      collection: 'contacts',
      key: 'c1',
      value: canary,
    });
    for (let i = 0; i < 50; i++) {
      await node.putRecord({
        userId: 'u-canary',
        service: 'messaging',
        epoch: 1,
        collection: 'messages',
        key: `m${i}`,
        value: { body: `${canary} #${i}` },
      });
    }

    // The data really is there, readable through the node...
    expect(
      await node.getRecord({ userId: 'u-canary', service: 'shop', epoch: 1, collection: 'orders', key: 'o1' }),
    ).toMatchObject({ value: { note: canary } });
    expect(await node.verifyPassword({ userId: 'u-canary', service: 'account', epoch: 1, password })).toBe(true);
    // ...and the write-ahead log, where fresh writes sit, is among the files scanned.
    const files = filesUnder(dir.path);
    expect(files.some((f) => f.endsWith('store.db-wal'))).toBe(true);
    expect(files.some((f) => f.endsWith('keyring.json'))).toBe(true);
    for (const needle of [canary, phone, email, password, '98765432']) {
      expect(filesHolding(dir.path, needle), needle).toEqual([]);
    }

    // The scan itself can find things: the user id is stored in the clear (it is pseudonymous).
    expect(filesHolding(dir.path, 'u-canary').length).toBeGreaterThan(0);

    await node.close();
    node = await openRegionNode({ policy: testPolicy, regionId: 'sg-singapore', dataDir: dir.path, exclusive: false });
    for (const needle of [canary, phone, email, password]) expect(filesHolding(dir.path, needle), needle).toEqual([]);
  });

  describe('a ciphertext moved anywhere else fails to open', () => {
    const shop = (userId: string) => ({ userId, service: 'shop', epoch: 1 });
    const secret = { card: '4111-1111-1111-1111' };

    beforeEach(async () => {
      for (const userId of ['u1', 'u2']) {
        await node.openTenancy({ ...shop(userId), market: 'SG' });
        await node.putRecord({ ...shop(userId), collection: 'orders', key: 'o1', value: { mine: userId } });
      }
      await node.putRecord({ ...shop('u1'), collection: 'orders', key: 'o2', value: { other: true } });
      await node.putRecord({ ...shop('u1'), collection: 'orders', key: 'secret', value: secret });
      await node.openTenancy({ userId: 'u1', service: 'messaging', epoch: 1, market: 'SG' });
      await node.putRecord({
        userId: 'u1',
        service: 'messaging',
        epoch: 1,
        collection: 'messages',
        key: 'secret',
        value: 'x',
      });
    });

    /** The row's key: the keyId the store holds for the record's key in that region. */
    const id = (userId: string, collection: string, key: string, regionId = 'sg-singapore') =>
      recordKeyId(dir.path, regionId, userId, collection, key);

    function withStore<T>(dataDir: string, regionId: string, fn: (db: Database.Database) => T): T {
      const db = new Database(regionPaths(dataDir, regionId).store);
      try {
        return fn(db);
      } finally {
        db.close();
      }
    }

    function ciphertextOf(
      db: Database.Database,
      userId: string,
      service: string,
      collection: string,
      key: string,
    ): Buffer {
      const row = db
        .prepare('SELECT ciphertext FROM records WHERE user_id = ? AND service = ? AND collection = ? AND key = ?')
        .get(userId, service, collection, key) as { ciphertext: Buffer } | undefined;
      if (!row) throw new Error(`no record ${userId}/${service}/${collection}/${key}`);
      return row.ciphertext;
    }

    function plant(
      db: Database.Database,
      userId: string,
      service: string,
      collection: string,
      key: string,
      ciphertext: Buffer,
    ): void {
      db.prepare(`INSERT INTO records (user_id, service, collection, key, version, ciphertext, updated_at) VALUES (?, ?, ?, ?, 1, ?, 0)
        ON CONFLICT (user_id, service, collection, key) DO UPDATE SET ciphertext = excluded.ciphertext`).run(
        userId,
        service,
        collection,
        key,
        ciphertext,
      );
    }

    it('to another user', async () => {
      const [o1, secretId] = [await id('u2', 'orders', 'o1'), await id('u1', 'orders', 'secret')];
      withStore(dir.path, 'sg-singapore', (db) =>
        plant(db, 'u2', 'shop', 'orders', o1, ciphertextOf(db, 'u1', 'shop', 'orders', secretId)),
      );
      await expectCode(node.getRecord({ ...shop('u2'), collection: 'orders', key: 'o1' }), 'INTEGRITY');
      await expectCode(node.listRecords(shop('u2')), 'INTEGRITY');
      // the original still opens: the test changed only the copy
      expect((await node.getRecord({ ...shop('u1'), collection: 'orders', key: 'secret' }))?.value).toEqual(secret);
    });

    it("to another user, with the owner's wrapped keys copied too", async () => {
      await node.close();
      const [o1, secretId] = [await id('u2', 'orders', 'o1'), await id('u1', 'orders', 'secret')];
      withStore(dir.path, 'sg-singapore', (db) => {
        plant(db, 'u2', 'shop', 'orders', o1, ciphertextOf(db, 'u1', 'shop', 'orders', secretId));
        db.prepare("DELETE FROM keys WHERE user_id = 'u2'").run();
        db.prepare(
          "INSERT INTO keys (user_id, scope, wrapped, wrapped_by, created_at) SELECT 'u2', scope, wrapped, wrapped_by, created_at FROM keys WHERE user_id = 'u1'",
        ).run();
      });
      node = await openRegionNode({
        policy: testPolicy,
        regionId: 'sg-singapore',
        dataDir: dir.path,
        exclusive: false,
      });
      await expectCode(node.getRecord({ ...shop('u2'), collection: 'orders', key: 'o1' }), 'INTEGRITY');
    });

    it('to another key', async () => {
      const [o2, secretId] = [await id('u1', 'orders', 'o2'), await id('u1', 'orders', 'secret')];
      withStore(dir.path, 'sg-singapore', (db) =>
        plant(db, 'u1', 'shop', 'orders', o2, ciphertextOf(db, 'u1', 'shop', 'orders', secretId)),
      );
      await expectCode(node.getRecord({ ...shop('u1'), collection: 'orders', key: 'o2' }), 'INTEGRITY');
      expect((await node.getRecord({ ...shop('u1'), collection: 'orders', key: 'secret' }))?.value).toEqual(secret);
    });

    it('to another collection or service', async () => {
      const account = { userId: 'u1', service: 'account', epoch: 1 };
      await node.openTenancy({ ...account, market: 'SG' });
      await node.putRecord({ ...account, collection: 'device', key: 'secret', value: 'Redmi 1S' });
      const ids = {
        identity: await id('u1', 'identity', 'secret'),
        device: await id('u1', 'device', 'secret'),
        messages: await id('u1', 'messages', 'secret'),
        orders: await id('u1', 'orders', 'secret'),
      };
      withStore(dir.path, 'sg-singapore', (db) => {
        plant(db, 'u1', 'account', 'identity', ids.identity, ciphertextOf(db, 'u1', 'account', 'device', ids.device));
        plant(db, 'u1', 'messaging', 'messages', ids.messages, ciphertextOf(db, 'u1', 'shop', 'orders', ids.orders));
      });
      // identity has no key yet for u1: the record cannot be opened at all
      await expectCode(node.getRecord({ ...account, collection: 'identity', key: 'secret' }), 'INTEGRITY');
      await node.putRecord({ ...account, collection: 'identity', key: 'name', value: 'makes the identity key' });
      await expectCode(node.getRecord({ ...account, collection: 'identity', key: 'secret' }), 'INTEGRITY');
      await expectCode(
        node.getRecord({ userId: 'u1', service: 'messaging', epoch: 1, collection: 'messages', key: 'secret' }),
        'INTEGRITY',
      );
      expect((await node.getRecord({ ...account, collection: 'device', key: 'secret' }))?.value).toBe('Redmi 1S');
    });

    it('into another region, even with the same user id and wrapped keys', async () => {
      const oregon = await openRegionNode({
        policy: testPolicy,
        regionId: 'us-oregon',
        dataDir: dir.path,
        exclusive: false,
      });
      try {
        await oregon.openTenancy({ ...shop('u1'), market: 'SG' });
        await oregon.putRecord({ ...shop('u1'), collection: 'orders', key: 'secret', value: { decoy: true } });
        const [sgId, usId] = [await id('u1', 'orders', 'secret'), await id('u1', 'orders', 'secret', 'us-oregon')];
        const stolen = withStore(dir.path, 'sg-singapore', (db) => ciphertextOf(db, 'u1', 'shop', 'orders', sgId));
        withStore(dir.path, 'us-oregon', (db) => plant(db, 'u1', 'shop', 'orders', usId, stolen));
        await expectCode(oregon.getRecord({ ...shop('u1'), collection: 'orders', key: 'secret' }), 'INTEGRITY');

        // copying Singapore's wrapped keys along does not help: Oregon's keyring cannot open them
        await oregon.close();
        withStore(dir.path, 'sg-singapore', (sg) =>
          withStore(dir.path, 'us-oregon', (us) => {
            us.prepare("DELETE FROM keys WHERE user_id = 'u1'").run();
            const rows = sg
              .prepare("SELECT user_id, scope, wrapped, wrapped_by, created_at FROM keys WHERE user_id = 'u1'")
              .all() as Array<Record<string, unknown>>;
            for (const row of rows)
              us.prepare('INSERT INTO keys VALUES (@user_id, @scope, @wrapped, @wrapped_by, @created_at)').run(row);
            expect(rows.length).toBeGreaterThanOrEqual(2);
          }),
        );
        const reopened = await openRegionNode({
          policy: testPolicy,
          regionId: 'us-oregon',
          dataDir: dir.path,
          exclusive: false,
        });
        try {
          await expectCode(reopened.getRecord({ ...shop('u1'), collection: 'orders', key: 'secret' }), 'INTEGRITY');
        } finally {
          await reopened.close();
        }
      } finally {
        await oregon.close();
      }
    });
  });
});
