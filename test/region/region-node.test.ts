import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { policySchema } from '../../src/policy/policy-schema.js';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from './fixtures.js';

describe('RegionNode', () => {
  let dir: ReturnType<typeof tempDir>;
  let node: RegionNode;
  const ref = { userId: 'u-alice', service: 'shop', epoch: 1 };

  beforeEach(async () => {
    dir = tempDir('region-node');
    node = await openRegionNode({
      policy: testPolicy,
      regionId: 'sg-singapore',
      dataDir: dir.path,
      scrypt: fastScrypt,
      exclusive: false,
    });
    await node.openTenancy({ ...ref, market: 'SG' });
  });
  afterEach(async () => {
    await node.close();
    dir.remove();
  });

  it('writes, versions, reads, lists and deletes records', async () => {
    const first = await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { phone: 'Mi 4', qty: 1 } });
    expect(first.version).toBe(1);
    const second = await node.putRecord({
      ...ref,
      collection: 'orders',
      key: 'o1',
      value: { phone: 'Mi 4', qty: 2 },
      ifVersion: 1,
    });
    expect(second.version).toBe(2);
    await node.putRecord({ ...ref, collection: 'orders', key: 'o0', value: ['a', 1, null, true] });
    expect(await node.getRecord({ ...ref, collection: 'orders', key: 'o1' })).toEqual({
      collection: 'orders',
      key: 'o1',
      version: 2,
      updatedAt: second.updatedAt,
      value: { phone: 'Mi 4', qty: 2 },
    });
    expect(await node.getRecord({ ...ref, collection: 'orders', key: 'missing' })).toBeNull();
    const list = await node.listRecords({ ...ref, collection: 'orders' });
    expect(list.map((r) => [r.key, r.version, r.value])).toEqual([
      ['o0', 1, ['a', 1, null, true]],
      ['o1', 2, { phone: 'Mi 4', qty: 2 }],
    ]);
    expect(await node.listRecords(ref)).toEqual(list);
    const conflict = await expectCode(
      node.deleteRecord({ ...ref, collection: 'orders', key: 'o1', ifVersion: 1 }),
      'CONFLICT',
    );
    expect(conflict.details).toMatchObject({ version: 2 });
    expect(await node.deleteRecord({ ...ref, collection: 'orders', key: 'o1', ifVersion: 2 })).toEqual({
      deleted: true,
    });
    expect(await node.deleteRecord({ ...ref, collection: 'orders', key: 'o1' })).toEqual({ deleted: false });
    expect(await node.getRecord({ ...ref, collection: 'orders', key: 'o1' })).toBeNull();
    expect(await node.health()).toEqual({ regionId: 'sg-singapore', backend: 'sqlite', lastSeq: 4 });
  });

  it('takes only the categories of the service as collections', async () => {
    // Homed for account too: a region answers WRONG_REGION before checking anything else.
    await node.openTenancy({ ...ref, service: 'account', market: 'SG' });
    const unknown = await expectCode(
      node.putRecord({ ...ref, collection: 'photos', key: 'p1', value: 1 }),
      'BAD_REQUEST',
    );
    expect(unknown.message).toBe('collection "photos" is not a category of service shop; use one of: orders');
    for (const call of [
      node.putRecord({
        ...ref,
        service: 'account',
        collection: '_credentials',
        key: 'login',
        value: { passwordHash: 'x' },
      }),
      node.getRecord({ ...ref, service: 'account', collection: '_credentials', key: 'login' }),
      node.listRecords({ ...ref, service: 'account', collection: '_credentials' }),
      node.deleteRecord({ ...ref, service: 'account', collection: '_credentials', key: 'login' }),
    ]) {
      const reserved = await expectCode(call, 'BAD_REQUEST');
      expect(reserved.message).toContain('reserved');
      expect(reserved.message).toContain('use one of: identity, device');
    }
    const service = await expectCode(
      node.getRecord({ ...ref, service: 'mail', collection: 'orders', key: 'o1' }),
      'BAD_REQUEST',
    );
    expect(service.message).toContain('use one of: account, messaging, cloud, shop');
  });

  it('refuses malformed requests, naming the field, and changes nothing', async () => {
    const cases: Array<[Promise<unknown>, string]> = [
      [node.putRecord({ ...ref, collection: 'orders', key: '', value: 1 }), 'key'],
      [node.putRecord({ ...ref, collection: 'orders', key: 'a\nb', value: 1 }), 'key'],
      [node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: undefined }), 'value'],
      [node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { n: 10n } }), 'value'],
      [node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: 1, ifVersion: -1 }), 'ifVersion'],
      [node.putRecord({ ...ref, epoch: 1.5, collection: 'orders', key: 'o1', value: 1 }), 'epoch'],
      [node.getRecord({ ...ref, userId: '', collection: 'orders', key: 'o1' }), 'userId'],
      [node.openTenancy({ ...ref, market: 'sg' }), 'market'],
    ];
    for (const [call, field] of cases) {
      const err = await expectCode(call, 'BAD_REQUEST');
      expect(err.details).toMatchObject({ field });
    }
    const large = await expectCode(
      node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: 'x'.repeat(1024 * 1024) }),
      'PAYLOAD_TOO_LARGE',
    );
    expect(large.message).toContain('at most 1048576 bytes');
    expect((await node.health()).lastSeq).toBe(0);
  });

  it('answers only for users it homes, at their epoch', async () => {
    const stranger = { userId: 'u-bob', service: 'shop', epoch: 1 };
    const wrong = await expectCode(node.getRecord({ ...stranger, collection: 'orders', key: 'o1' }), 'WRONG_REGION');
    expect(wrong.details).toMatchObject({ home: null });
    await expectCode(node.putRecord({ ...stranger, collection: 'orders', key: 'o1', value: 1 }), 'WRONG_REGION');
    await expectCode(node.listRecords(stranger), 'WRONG_REGION');
    await expectCode(node.verifyPassword({ ...stranger, service: 'account', password: 'pw' }), 'WRONG_REGION');
    const stale = await expectCode(
      node.getRecord({ ...ref, epoch: 0, collection: 'orders', key: 'o1' }),
      'STALE_EPOCH',
    );
    expect(stale.details).toMatchObject({ epoch: 1 });
    expect(await node.describeUser({ userId: 'u-bob' })).toEqual([]);
    // no key is ever made for a user the region does not serve
    const db = new Database(regionPaths(dir.path, 'sg-singapore').store, { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM keys WHERE user_id = 'u-bob'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('answers WRONG_REGION (or STALE_EPOCH) before any other check, for every method about a user', async () => {
    const stranger = { userId: 'u-bob', service: 'messaging', epoch: 1 };
    // Each of these would fail another check (no grant, no such collection, too large, a bad
    // password or notice) were the user homed here: a gateway with a stale home must hear where
    // the user is, which it re-routes on, not an answer about data this region does not hold.
    const calls: Array<[string, () => Promise<unknown>]> = [
      [
        'put without a grant',
        () => node.putRecord({ ...stranger, collection: 'contacts', key: 'c1', value: { name: 'x' } }),
      ],
      ['put to no such collection', () => node.putRecord({ ...stranger, collection: 'nope', key: 'c1', value: 1 })],
      [
        'put too large',
        () => node.putRecord({ ...stranger, collection: 'messages', key: 'm1', value: 'x'.repeat(1024 * 1024) }),
      ],
      [
        'put with a bad ifVersion',
        () => node.putRecord({ ...stranger, collection: 'messages', key: 'm1', value: 1, ifVersion: -1 }),
      ],
      ['get of no such collection', () => node.getRecord({ ...stranger, collection: 'nope', key: 'c1' })],
      ['list of no such collection', () => node.listRecords({ ...stranger, collection: 'nope' })],
      ['delete with a bad key', () => node.deleteRecord({ ...stranger, collection: 'messages', key: '' })],
      [
        'consent to no such purpose',
        () =>
          node.recordConsent({ ...stranger, purpose: 'nope', decision: 'grant', method: 'settings', source: 'test' }),
      ],
      [
        'consent with a bad decision',
        () =>
          node.recordConsent({
            ...stranger,
            purpose: 'address-book-sync',
            decision: 'maybe' as 'grant',
            method: 'settings',
            source: 'test',
          }),
      ],
      ['consents', () => node.readConsents(stranger)],
      ['a device sync', () => node.changesSince({ afterSeq: 0, limit: 10, ...stranger })],
      [
        'credentials with an empty password',
        () => node.setCredentials({ ...stranger, service: 'account', phone: '+6581234567', password: '' }),
      ],
      [
        'a password check with an empty password',
        () => node.verifyPassword({ ...stranger, service: 'account', password: '' }),
      ],
    ];
    for (const [what, call] of calls) {
      const err = await expectCode(call(), 'WRONG_REGION').catch((e: unknown) => {
        throw new Error(`${what}: ${String(e)}`);
      });
      expect(err.details, what).toMatchObject({ home: null });
    }
    // A user homed here, asked about at another epoch: STALE_EPOCH first, too.
    await node.openTenancy({ ...ref, service: 'messaging', market: 'SG' });
    await expectCode(
      node.putRecord({ ...ref, service: 'messaging', epoch: 2, collection: 'contacts', key: 'c1', value: 1 }),
      'STALE_EPOCH',
    );
    await expectCode(
      node.getRecord({ ...ref, service: 'messaging', epoch: 2, collection: 'nope', key: 'c1' }),
      'STALE_EPOCH',
    );
    // and at its epoch, the other checks as before
    await expectCode(
      node.putRecord({ ...ref, service: 'messaging', collection: 'contacts', key: 'c1', value: 1 }),
      'CONSENT_REQUIRED',
    );
    await expectCode(node.getRecord({ ...ref, service: 'messaging', collection: 'nope', key: 'c1' }), 'BAD_REQUEST');
    // The coordinator's tail (no epoch) still reads the log of users this region does not serve.
    expect(
      (await node.changesSince({ afterSeq: 0, limit: 10, service: 'messaging', userId: 'u-bob' })).changes,
    ).toEqual([]);
  });

  it('stops serving a user the moment the tenancy is fenced or moved, even with keys cached', async () => {
    await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: 1 });
    expect((await node.getRecord({ ...ref, collection: 'orders', key: 'o1' }))?.value).toBe(1);
    const setStatus = (status: string, movedTo: string | null) => {
      const db = new Database(regionPaths(dir.path, 'sg-singapore').store);
      db.prepare('UPDATE tenancies SET status = ?, moved_to = ? WHERE user_id = ? AND service = ?').run(
        status,
        movedTo,
        ref.userId,
        ref.service,
      );
      db.close();
    };
    setStatus('fenced', null);
    await expectCode(node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: 2 }), 'FENCED');
    await expectCode(node.getRecord({ ...ref, collection: 'orders', key: 'o1' }), 'FENCED');
    await expectCode(node.listRecords(ref), 'FENCED');
    await expectCode(node.deleteRecord({ ...ref, collection: 'orders', key: 'o1' }), 'FENCED');
    setStatus('moved', 'us-oregon');
    const moved = await expectCode(
      node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: 2 }),
      'WRONG_REGION',
    );
    expect(moved.details).toMatchObject({ home: 'us-oregon' });
    expect(moved.message).toContain('moved to us-oregon');
    await expectCode(node.getRecord({ ...ref, collection: 'orders', key: 'o1' }), 'WRONG_REGION');
    setStatus('home', null);
    expect((await node.getRecord({ ...ref, collection: 'orders', key: 'o1' }))?.value).toBe(1);
  });

  it('opens tenancies only where the policy lets the data rest, and never backwards', async () => {
    const forbidden = await expectCode(
      node.openTenancy({ userId: 'u-li', service: 'shop', epoch: 1, market: 'CN' }),
      'FORBIDDEN',
    );
    expect(forbidden.message).toContain('market CN');
    await node.openTenancy({ ...ref, epoch: 3, market: 'SG' });
    const back = await expectCode(node.openTenancy({ ...ref, epoch: 2, market: 'SG' }), 'STALE_EPOCH');
    expect(back.details).toMatchObject({ epoch: 3 });
    await node.openTenancy({ ...ref, epoch: 3, market: 'MY' });
    expect((await node.describeUser({ userId: ref.userId }))[0]).toMatchObject({
      service: 'shop',
      market: 'MY',
      epoch: 3,
      status: 'home',
    });
  });

  it('keeps credentials in the region and verifies passwords', async () => {
    const account = { userId: 'u-alice', service: 'account', epoch: 1 };
    await node.openTenancy({ ...account, market: 'SG' });
    await node.setCredentials({
      ...account,
      phone: '+65 9123 4567',
      email: 'Alice@Example.com',
      password: 'correct horse',
    });
    expect(await node.verifyPassword({ ...account, password: 'correct horse' })).toBe(true);
    expect(await node.verifyPassword({ ...account, password: 'wrong horse' })).toBe(false);
    // a password change keeps the identifiers
    await node.setCredentials({ ...account, password: 'new horse' });
    expect(await node.verifyPassword({ ...account, password: 'correct horse' })).toBe(false);
    expect(await node.verifyPassword({ ...account, password: 'new horse' })).toBe(true);
    expect(await node.listRecords(account)).toEqual([]);
    const holding = await node.describeUser({ userId: 'u-alice' });
    expect(holding.find((h) => h.service === 'account')?.collections).toEqual([
      expect.objectContaining({ collection: '_credentials', records: 1 }),
    ]);

    const other = { userId: 'u-carol', service: 'account', epoch: 1 };
    await node.openTenancy({ ...other, market: 'MY' });
    expect(await node.verifyPassword({ ...other, password: 'anything' })).toBe(false);
    const none = await expectCode(node.setCredentials({ ...other, password: 'pw' }), 'BAD_REQUEST');
    expect(none.message).toContain('phone number or an e-mail');
    const phone = await expectCode(node.setCredentials({ ...other, phone: '91234567', password: 'pw' }), 'BAD_REQUEST');
    expect(phone.message).toContain('starting with "+"');
    const service = await expectCode(node.setCredentials({ ...ref, email: 'a@b.co', password: 'pw' }), 'BAD_REQUEST');
    expect(service.message).toBe('credentials belong to service account, not shop');
    await expectCode(node.verifyPassword({ ...other, password: '' }), 'BAD_REQUEST');
  });

  it('describes what it holds of a user, and counts placement', async () => {
    await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { total: 1999 } });
    await node.putRecord({ ...ref, collection: 'orders', key: 'o2', value: { total: 999 } });
    const cloud = { userId: 'u-alice', service: 'cloud', epoch: 2 };
    await node.openTenancy({ ...cloud, market: 'SG' });
    await node.putRecord({ ...cloud, collection: 'photos', key: 'p1', value: 'IMG_0001' });
    const holdings = await node.describeUser({ userId: 'u-alice' });
    expect(holdings.map((h) => h.service)).toEqual(['cloud', 'shop']);
    const shop = holdings.find((h) => h.service === 'shop');
    expect(shop).toMatchObject({
      market: 'SG',
      status: 'home',
      epoch: 1,
      movedTo: null,
      keys: 1,
      changes: 2,
      residue: false,
    });
    expect(shop?.collections).toHaveLength(1);
    expect(shop?.collections[0]).toMatchObject({ collection: 'orders', records: 2 });
    expect(shop?.collections[0]?.bytes).toBeGreaterThan('{"total":1999}{"total":999}'.length);
    const stats = await node.placementStats();
    expect(stats).toEqual([
      { market: 'SG', service: 'cloud', users: 1, records: 1, bytes: expect.any(Number), residue: 0 },
      { market: 'SG', service: 'shop', users: 1, records: 2, bytes: shop?.collections[0]?.bytes, residue: 0 },
    ]);
  });

  it('keeps data readable across restarts', async () => {
    await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { kept: true } });
    await node.close();
    node = await openRegionNode({ policy: testPolicy, regionId: 'sg-singapore', dataDir: dir.path, exclusive: false });
    expect((await node.getRecord({ ...ref, collection: 'orders', key: 'o1' }))?.value).toEqual({ kept: true });
  });
});

describe('openRegionNode', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir('open-region');
  });
  afterEach(() => {
    dir.remove();
  });

  it("holds its store's lock: no other connection can read the region's data while the node runs", async () => {
    const node = await openRegionNode({ policy: testPolicy, regionId: 'us-oregon', dataDir: dir.path });
    await node.openTenancy({ userId: 'u1', service: 'shop', epoch: 1, market: 'US' });
    const other = new Database(regionPaths(dir.path, 'us-oregon').store, { timeout: 50 });
    try {
      expect(() => other.prepare('SELECT count(*) FROM tenancies').get()).toThrow(/locked/);
    } finally {
      other.close();
    }
    await node.close();
    const after = new Database(regionPaths(dir.path, 'us-oregon').store, { readonly: true });
    expect(after.prepare('SELECT count(*) AS n FROM tenancies').get()).toEqual({ n: 1 });
    after.close();
  });

  it('creates the region folder, store and keyring (0600) on first start', async () => {
    const node = await openRegionNode({
      policy: testPolicy,
      regionId: 'us-oregon',
      dataDir: dir.path,
      durability: 'normal',
    });
    const paths = regionPaths(dir.path, 'us-oregon');
    expect(existsSync(paths.store)).toBe(true);
    expect(statSync(paths.keyring).mode & 0o777).toBe(0o600);
    expect((await node.health()).regionId).toBe('us-oregon');
    await node.close();
  });

  it('honours store and keyring paths from the policy', async () => {
    const policy = policySchema.parse({
      ...testPolicy,
      regions: testPolicy.regions.map((r) =>
        r.id === 'sg-singapore'
          ? {
              ...r,
              store: { kind: 'sqlite', path: 'custom/sg.db' },
              keys: { kind: 'keyring', path: join(dir.path, 'vault', 'sg-keys.json') },
            }
          : r,
      ),
    });
    const node = await openRegionNode({ policy, regionId: 'sg-singapore', dataDir: dir.path });
    expect(existsSync(join(dir.path, 'custom', 'sg.db'))).toBe(true);
    expect(existsSync(join(dir.path, 'vault', 'sg-keys.json'))).toBe(true);
    expect(existsSync(regionPaths(dir.path, 'sg-singapore').keyring)).toBe(false);
    await node.close();
  });

  it('refuses unknown regions, and names a PostgreSQL store it cannot open', async () => {
    const unknown = await expectCode(
      openRegionNode({ policy: testPolicy, regionId: 'eu-frankfurt', dataDir: dir.path }),
      'BAD_REQUEST',
    );
    expect(unknown.message).toContain('use one of: cn-beijing, sg-singapore, us-oregon, br-saopaulo');
    const pg = await expectCode(
      openRegionNode({ policy: testPolicy, regionId: 'br-saopaulo', dataDir: dir.path }),
      'UNAVAILABLE',
    );
    expect(pg.message).toContain('127.0.0.1:5432/domicile_br');
  });
});
