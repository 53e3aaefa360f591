import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import type { ExportedUser, RecordStates } from '../../src/region/region-client.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { recordKeyId } from '../support/record-key-id.js';
import { expectCode, fastScrypt, filesHoldingBytes, tempDir, testPolicy } from './fixtures.js';
import { digestOne, importOne, purgeOne, setOne } from './support/single-user-calls.js';

/**
 * The region side of a live migration, between two real SQLite nodes with their own keyrings:
 * Singapore (the source) and Oregon (the destination), both allowed for market SG. The nodes
 * are opened non-exclusively so the tests can read and damage their files as an attacker would.
 */
const canary = 'CANARY-migrate-4c1d77-Lei-Jun';
const shop = (userId: string, epoch = 1) => ({ userId, service: 'shop', epoch });

interface RecordRow {
  collection: string;
  key: string;
  version: number;
  ciphertext: Buffer;
  updated_at: number;
}
interface KeyRow {
  scope: string;
  wrapped: Buffer;
  wrapped_by: string;
}

describe('migration primitives', () => {
  let dir: ReturnType<typeof tempDir>;
  let sg: RegionNode;
  let us: RegionNode;

  const open = (regionId: string) =>
    openRegionNode({ policy: testPolicy, regionId, dataDir: dir.path, scrypt: fastScrypt, exclusive: false });

  function query<T>(regionId: string, sql: string, ...params: unknown[]): T[] {
    const db = new Database(regionPaths(dir.path, regionId).store);
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  function run(regionId: string, sql: string, ...params: unknown[]): void {
    const db = new Database(regionPaths(dir.path, regionId).store);
    try {
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
  }

  const recordRows = (regionId: string, userId: string, service = 'shop') =>
    query<RecordRow>(
      regionId,
      'SELECT collection, key, version, ciphertext, updated_at FROM records WHERE user_id = ? AND service = ? ORDER BY collection, key',
      userId,
      service,
    );
  const keyRows = (regionId: string, userId?: string) =>
    userId === undefined
      ? query<KeyRow>(regionId, 'SELECT scope, wrapped, wrapped_by FROM keys ORDER BY user_id, scope')
      : query<KeyRow>(regionId, 'SELECT scope, wrapped, wrapped_by FROM keys WHERE user_id = ? ORDER BY scope', userId);

  /** Two shop users in Singapore: u-1 with an updated, a plain and a deleted order; u-2 with one. */
  async function seed(): Promise<void> {
    for (const userId of ['u-1', 'u-2']) await sg.openTenancy({ ...shop(userId), market: 'SG' });
    await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o1', value: { item: 'Mi 3', note: canary } });
    await sg.putRecord({
      ...shop('u-1'),
      collection: 'orders',
      key: 'o1',
      value: { item: 'Mi 4', note: canary, qty: 2 },
    });
    await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o2', value: ['Redmi 1S', 1, null, true] });
    await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o3', value: 'soon gone' });
    await sg.deleteRecord({ ...shop('u-1'), collection: 'orders', key: 'o3' });
    await sg.putRecord({ ...shop('u-2'), collection: 'orders', key: 'o1', value: { item: 'Mi Band', note: canary } });
  }

  /** The copy step: export from Singapore, import into Oregon as 'incoming' at an epoch. */
  async function copy(userIds: string[], epoch = 2, service = 'shop'): Promise<ExportedUser[]> {
    const exported = await sg.exportUsers({ service, userIds });
    for (const user of exported) {
      await importOne(us, {
        service,
        userId: user.userId,
        market: user.market,
        epoch,
        states: { records: user.records, deleted: [] },
      });
    }
    return exported;
  }

  async function expectSameDigest(userId: string, service = 'shop'): Promise<string> {
    const source = await digestOne(sg, { service, userId });
    const destination = await digestOne(us, { service, userId });
    expect(destination).toEqual(source);
    return source.digest;
  }

  beforeEach(async () => {
    dir = tempDir('migration');
    sg = await open('sg-singapore');
    us = await open('us-oregon');
    await seed();
  });
  afterEach(async () => {
    await sg.close();
    await us.close();
    dir.remove();
  });

  describe('copy: export and import', () => {
    it('round-trips every record with the same versions and digests, under fresh keys of the destination', async () => {
      const exported = await sg.exportUsers({ service: 'shop', userIds: ['u-1', 'u-2'] });
      expect(exported.map((u) => [u.userId, u.market])).toEqual([
        ['u-1', 'SG'],
        ['u-2', 'SG'],
      ]);
      expect(exported[0]?.records.map((r) => [r.key, r.version, r.value])).toEqual([
        ['o1', 2, { item: 'Mi 4', note: canary, qty: 2 }],
        ['o2', 1, ['Redmi 1S', 1, null, true]],
      ]);
      for (const user of exported) {
        const result = await importOne(us, {
          service: 'shop',
          userId: user.userId,
          market: user.market,
          epoch: 2,
          states: { records: user.records, deleted: [] },
        });
        expect(result).toEqual({ applied: user.records.length });
      }
      for (const userId of ['u-1', 'u-2']) await expectSameDigest(userId);

      // The same rows, versions and times, each under the keyId of its key in its own region; other ciphertexts.
      for (const userId of ['u-1', 'u-2']) {
        const source = recordRows('sg-singapore', userId);
        const destination = recordRows('us-oregon', userId);
        for (const key of ['o1', 'o2'].slice(0, source.length)) {
          const [from, to] = [
            await recordKeyId(dir.path, 'sg-singapore', userId, 'orders', key),
            await recordKeyId(dir.path, 'us-oregon', userId, 'orders', key),
          ];
          expect(from).not.toBe(to);
          const [s, d] = [source.find((r) => r.key === from), destination.find((r) => r.key === to)];
          expect([d?.collection, d?.version, d?.updated_at]).toEqual([s?.collection, s?.version, s?.updated_at]);
          expect(d?.ciphertext.equals(s!.ciphertext)).toBe(false);
        }
        expect(destination).toHaveLength(source.length);
      }

      // No key material of Singapore in any of Oregon's files: neither its wrapped keys nor its keyring.
      const oregonDir = regionPaths(dir.path, 'us-oregon').dir;
      const sourceKeys = keyRows('sg-singapore');
      expect(sourceKeys.length).toBeGreaterThanOrEqual(4);
      for (const key of sourceKeys) expect(filesHoldingBytes(oregonDir, key.wrapped), key.scope).toEqual([]);
      const keyring = (regionId: string) =>
        JSON.parse(readFileSync(regionPaths(dir.path, regionId).keyring, 'utf8')) as {
          keys: Array<{ id: string; material: string }>;
        };
      const sgKeyring = keyring('sg-singapore');
      const usKeyring = keyring('us-oregon');
      for (const key of sgKeyring.keys) {
        expect(filesHoldingBytes(oregonDir, Buffer.from(key.material, 'base64'))).toEqual([]);
        expect(filesHoldingBytes(oregonDir, Buffer.from(key.material))).toEqual([]);
        expect(usKeyring.keys.map((k) => k.material)).not.toContain(key.material);
      }
      // Oregon's user keys are wrapped by Oregon's own key-encryption key, its category keys by its user keys.
      const destinationKeys = keyRows('us-oregon');
      expect(destinationKeys.length).toBe(4);
      for (const key of destinationKeys)
        expect(key.wrapped_by).toBe(key.scope === '' ? usKeyring.keys[0]?.id : 'user-key');
      expect(usKeyring.keys[0]?.id).not.toBe(sgKeyring.keys[0]?.id);
      // ...and no plaintext either.
      expect(filesHoldingBytes(oregonDir, Buffer.from(canary))).toEqual([]);
    });

    it('holds the copy as incoming, served only once the coordinator makes it home', async () => {
      await copy(['u-1']);
      expect((await us.describeUser({ userId: 'u-1' }))[0]).toMatchObject({
        service: 'shop',
        market: 'SG',
        epoch: 2,
        status: 'incoming',
        movedTo: null,
        keys: 1,
      });
      await expectCode(us.getRecord({ ...shop('u-1', 2), collection: 'orders', key: 'o1' }), 'FENCED');
      await setOne(us, { userId: 'u-1', service: 'shop', market: 'SG', epoch: 2, status: 'home', movedTo: null });
      expect(await us.getRecord({ ...shop('u-1', 2), collection: 'orders', key: 'o1' })).toMatchObject({
        version: 2,
        value: { item: 'Mi 4', note: canary, qty: 2 },
      });
      // versions go on from the source's
      expect(
        (
          await us.putRecord({
            ...shop('u-1', 2),
            collection: 'orders',
            key: 'o1',
            value: 'after the move',
            ifVersion: 2,
          })
        ).version,
      ).toBe(3);
    });

    it('moves credentials with the account service, so the user logs in at the destination', async () => {
      const account = { userId: 'u-1', service: 'account', epoch: 1 };
      await sg.openTenancy({ ...account, market: 'SG' });
      await sg.setCredentials({ ...account, phone: '+6591234567', password: 'correct horse' });
      await sg.putRecord({ ...account, collection: 'device', key: 'd1', value: 'Mi 4' });
      const [user] = await copy(['u-1'], 2, 'account');
      expect(user?.records.map((r) => r.collection)).toEqual(['_credentials', 'device']);
      await expectSameDigest('u-1', 'account');
      await setOne(us, { userId: 'u-1', service: 'account', market: 'SG', epoch: 2, status: 'home', movedTo: null });
      expect(await us.verifyPassword({ ...account, epoch: 2, password: 'correct horse' })).toBe(true);
      expect(await us.verifyPassword({ ...account, epoch: 2, password: 'wrong horse' })).toBe(false);
      // a reserved collection other than the credentials record is still refused
      const states: RecordStates = {
        records: [{ collection: '_credentials', key: 'other', version: 1, updatedAt: 0, value: {} }],
        deleted: [],
      };
      await expectCode(
        importOne(us, { service: 'account', userId: 'u-1', market: 'SG', epoch: 2, states }),
        'BAD_REQUEST',
      );
    });

    it('is idempotent: the same state twice changes nothing the second time', async () => {
      const [user] = await copy(['u-1']);
      const seq = (await us.health()).lastSeq;
      const digest = await expectSameDigest('u-1');
      const ciphertexts = recordRows('us-oregon', 'u-1').map((r) => r.ciphertext);
      const again = await importOne(us, {
        service: 'shop',
        userId: 'u-1',
        market: 'SG',
        epoch: 2,
        states: { records: user!.records, deleted: [] },
      });
      expect(again).toEqual({ applied: 0 });
      expect((await us.health()).lastSeq).toBe(seq);
      expect(recordRows('us-oregon', 'u-1').map((r) => r.ciphertext)).toEqual(ciphertexts);
      expect(await expectSameDigest('u-1')).toBe(digest);
      // the state is the plaintext itself: the same members in another order are another
      // plaintext, which the import writes and the digests tell apart, until the source's is back
      const reordered = user!.records.map((r) =>
        r.key === 'o1' ? { ...r, value: { qty: 2, note: canary, item: 'Mi 4' } } : r,
      );
      expect(
        await importOne(us, {
          service: 'shop',
          userId: 'u-1',
          market: 'SG',
          epoch: 2,
          states: { records: reordered, deleted: [] },
        }),
      ).toEqual({ applied: 1 });
      expect((await digestOne(us, { service: 'shop', userId: 'u-1' })).digest).not.toBe(digest);
      expect(
        await importOne(us, {
          service: 'shop',
          userId: 'u-1',
          market: 'SG',
          epoch: 2,
          states: { records: user!.records, deleted: [] },
        }),
      ).toEqual({ applied: 1 });
      expect(await expectSameDigest('u-1')).toBe(digest);
    });

    it('catches up from the change log: new, changed and deleted records, each once', async () => {
      const from = (await sg.health()).lastSeq;
      await copy(['u-1', 'u-2']);
      await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o4', value: { item: 'Mi Pad' } });
      await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o2', value: 'changed' });
      await sg.deleteRecord({ ...shop('u-1'), collection: 'orders', key: 'o1' });
      await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o5', value: 'short-lived' });
      await sg.deleteRecord({ ...shop('u-1'), collection: 'orders', key: 'o5' });

      const { changes } = await sg.changesSince({ afterSeq: from, limit: 100, service: 'shop' });
      expect(changes.map((c) => [c.key, c.op, c.version])).toEqual([
        ['o4', 'put', 1],
        ['o2', 'put', 2],
        ['o1', 'delete', 2],
        ['o5', 'put', 1],
        ['o5', 'delete', 1],
      ]);
      const refs = changes.filter((c) => c.userId === 'u-1').map((c) => ({ collection: c.collection, key: c.key }));
      const states = await sg.readRecordStates({ service: 'shop', userId: 'u-1', refs });
      expect(states.records.map((r) => [r.key, r.version, r.value])).toEqual([
        ['o4', 1, { item: 'Mi Pad' }],
        ['o2', 2, 'changed'],
      ]);
      expect(states.deleted).toEqual([
        { collection: 'orders', key: 'o1' },
        { collection: 'orders', key: 'o5' },
      ]);

      const seq = (await us.health()).lastSeq;
      expect(await importOne(us, { service: 'shop', userId: 'u-1', market: 'SG', epoch: 2, states })).toEqual({
        applied: 3,
      });
      const ids = new Map([
        ['o2', await recordKeyId(dir.path, 'us-oregon', 'u-1', 'orders', 'o2')],
        ['o4', await recordKeyId(dir.path, 'us-oregon', 'u-1', 'orders', 'o4')],
      ]);
      expect(
        recordRows('us-oregon', 'u-1')
          .map((r) => [[...ids].find(([, id]) => id === r.key)?.[0], r.version])
          .sort(),
      ).toEqual([
        ['o2', 2],
        ['o4', 1],
      ]);
      await expectSameDigest('u-1');
      await expectSameDigest('u-2');
      // an incoming copy is served and tailed by nobody: the destination logs none of it
      expect((await us.changesSince({ afterSeq: seq, limit: 100 })).changes).toEqual([]);
      expect(await importOne(us, { service: 'shop', userId: 'u-1', market: 'SG', epoch: 2, states })).toEqual({
        applied: 0,
      });
    });

    it('never overwrites a live home, and never imports what the policy does not place here', async () => {
      await us.openTenancy({ ...shop('u-1'), market: 'SG' });
      await us.putRecord({ ...shop('u-1'), collection: 'orders', key: 'o1', value: 'live at the destination' });
      const seq = (await us.health()).lastSeq;
      const [user] = await sg.exportUsers({ service: 'shop', userIds: ['u-1'] });
      const home = await expectCode(
        importOne(us, {
          service: 'shop',
          userId: 'u-1',
          market: 'SG',
          epoch: 1,
          states: { records: user!.records, deleted: [] },
        }),
        'CONFLICT',
      );
      expect(home.details).toMatchObject({ status: 'home' });
      expect((await us.getRecord({ ...shop('u-1'), collection: 'orders', key: 'o1' }))?.value).toBe(
        'live at the destination',
      );
      expect((await us.health()).lastSeq).toBe(seq);

      // China's data rests in Beijing alone
      const record = { collection: 'orders', key: 'o1', version: 1, updatedAt: 0, value: 'x' };
      const forbidden = await expectCode(
        importOne(us, {
          service: 'shop',
          userId: 'u-cn',
          market: 'CN',
          epoch: 1,
          states: { records: [record], deleted: [] },
        }),
        'FORBIDDEN',
      );
      expect(forbidden.details).toMatchObject({ market: 'CN', service: 'shop', region: 'us-oregon' });
      // ...nor does the coordinator's fence-and-copy tool open the door for it
      const incoming = await expectCode(
        setOne(us, { userId: 'u-cn', service: 'shop', market: 'CN', epoch: 1, status: 'incoming', movedTo: null }),
        'FORBIDDEN',
      );
      expect(incoming.details).toMatchObject({ market: 'CN', region: 'us-oregon' });
      expect(await us.describeUser({ userId: 'u-cn' })).toEqual([]);
      expect(keyRows('us-oregon', 'u-cn')).toEqual([]);
    });

    it('refuses malformed imports whole, naming the field, and changes nothing', async () => {
      const good = { collection: 'orders', key: 'o1', version: 1, updatedAt: 0, value: 'x' };
      const cases: Array<[RecordStates, string]> = [
        [{ records: [{ ...good, version: 0 }], deleted: [] }, 'version'],
        [{ records: [{ ...good, version: 1.5 }], deleted: [] }, 'version'],
        [{ records: [{ ...good, updatedAt: -1 }], deleted: [] }, 'updatedAt'],
        [{ records: [{ ...good, collection: 'photos' }], deleted: [] }, 'collection'],
        [{ records: [{ ...good, key: '' }], deleted: [] }, 'key'],
        [{ records: [good, { ...good, key: 'o2', value: undefined }], deleted: [] }, 'value'],
        [{ records: [good], deleted: [{ collection: 'orders', key: 'o1' }] }, 'states'],
        [{ records: [good] } as unknown as RecordStates, 'states.deleted'],
      ];
      for (const [states, field] of cases) {
        const err = await expectCode(
          importOne(us, { service: 'shop', userId: 'u-1', market: 'SG', epoch: 2, states }),
          'BAD_REQUEST',
        );
        expect(err.details, field).toMatchObject({ field });
      }
      await expectCode(
        importOne(us, {
          service: 'shop',
          userId: 'u-1',
          market: 'sg',
          epoch: 2,
          states: { records: [good], deleted: [] },
        }),
        'BAD_REQUEST',
      );
      expect(await us.describeUser({ userId: 'u-1' })).toEqual([]);
      expect(keyRows('us-oregon')).toEqual([]);
      expect((await us.health()).lastSeq).toBe(0);
    });

    it("names a record it cannot import by collection and position, never by the client's key (the error rests in the coordinator's state)", async () => {
      const secret = 'contact-+6591234567';
      const records = [
        { collection: 'orders', key: 'o1', version: 1, updatedAt: 0, value: 'x' },
        { collection: 'orders', key: secret, version: 1, updatedAt: 0, value: 'y'.repeat(1024 * 1024 + 1) },
      ];
      const err = await expectCode(
        importOne(us, { service: 'shop', userId: 'u-1', market: 'SG', epoch: 2, states: { records, deleted: [] } }),
        'PAYLOAD_TOO_LARGE',
      );
      expect(err.message).toMatch(/record 2 of the 2 sent for user u-1, in orders/);
      expect(err.details).toMatchObject({ collection: 'orders', position: 2, limit: 1024 * 1024 });
      expect(JSON.stringify({ message: err.message, details: err.details })).not.toContain('6591234567');
      expect(await us.describeUser({ userId: 'u-1' })).toEqual([]);
    });

    it('exports and reads states only of users it holds', async () => {
      const unknown = await expectCode(
        sg.exportUsers({ service: 'shop', userIds: ['u-1', 'u-nobody'] }),
        'WRONG_REGION',
      );
      expect(unknown.details).toMatchObject({ home: null, service: 'shop' });
      await expectCode(
        sg.readRecordStates({ service: 'shop', userId: 'u-nobody', refs: [{ collection: 'orders', key: 'o1' }] }),
        'WRONG_REGION',
      );
      await expectCode(sg.exportUsers({ service: 'shop', userIds: ['u-1', 'u-1'] }), 'BAD_REQUEST');
      expect(await sg.exportUsers({ service: 'shop', userIds: [] })).toEqual([]);
      // a fenced source still exports (the cut-over drains it)
      await setOne(sg, { userId: 'u-2', service: 'shop', market: 'SG', epoch: 1, status: 'fenced', movedTo: null });
      expect((await sg.exportUsers({ service: 'shop', userIds: ['u-2'] }))[0]?.records).toHaveLength(1);
    });
  });

  describe('verification', () => {
    it('a corrupted destination row makes the digest differ, or fail with INTEGRITY naming it', async () => {
      const [user] = await copy(['u-1']);
      await expectSameDigest('u-1');

      // The version is bound into the value's sealing: a row whose version was changed no longer opens.
      const [o1, o2] = [
        await recordKeyId(dir.path, 'us-oregon', 'u-1', 'orders', 'o1'),
        await recordKeyId(dir.path, 'us-oregon', 'u-1', 'orders', 'o2'),
      ];
      run('us-oregon', "UPDATE records SET version = 5 WHERE user_id = 'u-1' AND key = ?", o2);
      const renumbered = await expectCode(digestOne(us, { service: 'shop', userId: 'u-1' }), 'INTEGRITY');
      // named by the keyId the store holds, never by the client's key
      expect(renumbered.details).toMatchObject({ userId: 'u-1', service: 'shop', collection: 'orders', key: o2 });
      expect(
        await importOne(us, {
          service: 'shop',
          userId: 'u-1',
          market: 'SG',
          epoch: 2,
          states: { records: user!.records, deleted: [] },
        }),
      ).toEqual({ applied: 1 });
      await expectSameDigest('u-1');

      const [row] = query<{ ciphertext: Buffer }>(
        'us-oregon',
        "SELECT ciphertext FROM records WHERE user_id = 'u-1' AND key = ?",
        o1,
      );
      const flipped = Buffer.from(row!.ciphertext);
      flipped[flipped.length - 20]! ^= 0x01;
      run('us-oregon', "UPDATE records SET ciphertext = ? WHERE user_id = 'u-1' AND key = ?", flipped, o1);
      const broken = await expectCode(digestOne(us, { service: 'shop', userId: 'u-1' }), 'INTEGRITY');
      expect(broken.details).toMatchObject({ userId: 'u-1', service: 'shop', collection: 'orders', key: o1 });

      // importing the source's state again repairs it
      expect(
        await importOne(us, {
          service: 'shop',
          userId: 'u-1',
          market: 'SG',
          epoch: 2,
          states: { records: user!.records, deleted: [] },
        }),
      ).toEqual({ applied: 1 });
      await expectSameDigest('u-1');
    });

    it('digests deterministically: equal for equal data, different for any other value, key or version', async () => {
      const a = await digestOne(sg, { service: 'shop', userId: 'u-1' });
      expect(await digestOne(sg, { service: 'shop', userId: 'u-1' })).toEqual(a);
      expect(a.records.map((r) => [r.collection, r.key, r.version])).toEqual([
        ['orders', 'o1', 2],
        ['orders', 'o2', 1],
      ]);
      expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(a.records[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
      const b = await digestOne(sg, { service: 'shop', userId: 'u-2' });
      expect(b.digest).not.toBe(a.digest);
      const empty = await digestOne(sg, { service: 'cloud', userId: 'u-1' });
      expect(empty.records).toEqual([]);
      expect(await digestOne(us, { service: 'cloud', userId: 'u-1' })).toEqual(empty);
    });
  });

  describe('tenancy', () => {
    it('fences, moves and rolls back, refusing users accordingly, and never lowers the epoch', async () => {
      const set = (status: 'home' | 'fenced' | 'moved' | 'incoming', epoch: number, movedTo: string | null = null) =>
        setOne(sg, { userId: 'u-1', service: 'shop', market: 'SG', epoch, status, movedTo });
      const o1 = { collection: 'orders', key: 'o1' };
      await set('fenced', 1);
      await expectCode(sg.putRecord({ ...shop('u-1'), ...o1, value: 'during cut-over' }), 'FENCED');
      await expectCode(sg.getRecord({ ...shop('u-1'), ...o1 }), 'FENCED');
      await expectCode(sg.deleteRecord({ ...shop('u-1'), ...o1 }), 'FENCED');
      await set('moved', 2, 'us-oregon');
      for (const epoch of [1, 2]) {
        const moved = await expectCode(sg.putRecord({ ...shop('u-1', epoch), ...o1, value: 'stale' }), 'WRONG_REGION');
        expect(moved.details).toMatchObject({ home: 'us-oregon' });
      }
      const back = await expectCode(set('home', 1), 'STALE_EPOCH');
      expect(back.details).toMatchObject({ epoch: 2 });
      expect((await sg.describeUser({ userId: 'u-1' }))[0]).toMatchObject({
        status: 'moved',
        epoch: 2,
        movedTo: 'us-oregon',
      });
      // a roll-back: home again at the new epoch, data intact, writes go on
      await set('home', 2);
      expect((await sg.getRecord({ ...shop('u-1', 2), ...o1 }))?.version).toBe(2);
      expect((await sg.putRecord({ ...shop('u-1', 2), ...o1, value: 'rolled back', ifVersion: 2 })).version).toBe(3);
    });

    it('refuses malformed tenancies, naming the field, and changes nothing', async () => {
      const base = {
        userId: 'u-1',
        service: 'shop',
        market: 'SG',
        epoch: 2,
        status: 'moved' as const,
        movedTo: 'us-oregon' as string | null,
      };
      const cases: Array<[Record<string, unknown>, string, string?]> = [
        [{ movedTo: null }, 'movedTo', 'required'],
        [{ movedTo: 'eu-frankfurt' }, 'movedTo', 'use one of'],
        [{ movedTo: 'sg-singapore' }, 'movedTo', 'itself'],
        [{ status: 'fenced' }, 'movedTo'],
        [{ status: 'gone' }, 'status', 'home, fenced, moved, incoming'],
        [{ epoch: 0 }, 'epoch'],
        [{ epoch: 2.5 }, 'epoch'],
        [{ market: 'sg' }, 'market'],
        [{ service: 'mail' }, 'service'],
        [{ userId: '' }, 'userId'],
      ];
      for (const [change, field, message] of cases) {
        const err = await expectCode(setOne(sg, { ...base, ...change } as typeof base), 'BAD_REQUEST');
        expect(err.details, field).toMatchObject({ field });
        if (message) expect(err.message).toContain(message);
      }
      expect((await sg.describeUser({ userId: 'u-1' }))[0]).toMatchObject({ status: 'home', epoch: 1, movedTo: null });
    });
  });

  describe('change log', () => {
    it('pages across limits, filters by service, and reports the last sequence number', async () => {
      await sg.openTenancy({ userId: 'u-1', service: 'cloud', epoch: 1, market: 'SG' });
      const start = (await sg.health()).lastSeq;
      for (let i = 0; i < 7; i++) {
        await sg.putRecord({ ...shop('u-1'), collection: 'orders', key: `n${i}`, value: i });
        if (i < 5)
          await sg.putRecord({
            userId: 'u-1',
            service: 'cloud',
            epoch: 1,
            collection: 'photos',
            key: `p${i}`,
            value: i,
          });
      }
      await sg.deleteRecord({ ...shop('u-1'), collection: 'orders', key: 'n0' });
      const last = (await sg.health()).lastSeq;
      expect(last).toBe(start + 13);

      const seen: string[] = [];
      let after = start;
      for (let pages = 0; ; pages++) {
        expect(pages).toBeLessThan(10);
        const page = await sg.changesSince({ afterSeq: after, limit: 3, service: 'shop' });
        expect(page.changes.length).toBeLessThanOrEqual(3);
        expect(page.lastSeq).toBe(last);
        seen.push(...page.changes.map((c) => `${c.op}:${c.key}:${c.version}`));
        if (page.changes.length < 3) break;
        after = page.changes.at(-1)!.seq;
      }
      expect(seen).toEqual([...Array.from({ length: 7 }, (_, i) => `put:n${i}:1`), 'delete:n0:1']);

      const all = await sg.changesSince({ afterSeq: start, limit: 100 });
      expect(all.changes).toHaveLength(13);
      expect(all.changes[0]).toEqual({
        seq: start + 1,
        userId: 'u-1',
        service: 'shop',
        collection: 'orders',
        key: 'n0',
        op: 'put',
        version: 1,
      });
      // nothing of a service since: an empty page, and where to resume
      expect(await sg.changesSince({ afterSeq: start, limit: 5, service: 'messaging' })).toEqual({
        changes: [],
        lastSeq: last,
      });
      expect(await sg.changesSince({ afterSeq: last, limit: 5 })).toEqual({ changes: [], lastSeq: last });

      for (const [req, field] of [
        [{ afterSeq: 0, limit: 0 }, 'limit'],
        [{ afterSeq: 0, limit: 10_001 }, 'limit'],
        [{ afterSeq: -1, limit: 5 }, 'afterSeq'],
        [{ afterSeq: 0, limit: 5, service: 'mail' }, 'service'],
      ] as const) {
        const err = await expectCode(sg.changesSince(req), 'BAD_REQUEST');
        expect(err.details).toMatchObject({ field });
      }
    });
  });

  describe('purge', () => {
    /** Moves u-1's shop data to Oregon: copy, fence, flip; Singapore is left 'moved'. */
    async function cutOver(userId: string): Promise<void> {
      await copy([userId]);
      await setOne(sg, { userId, service: 'shop', market: 'SG', epoch: 1, status: 'fenced', movedTo: null });
      await setOne(us, { userId, service: 'shop', market: 'SG', epoch: 2, status: 'home', movedTo: null });
      await setOne(sg, { userId, service: 'shop', market: 'SG', epoch: 2, status: 'moved', movedTo: 'us-oregon' });
    }

    it("shreds the source's keys and records, forgets them, drops the tenancy and change log, and leaves no trace in its files", async () => {
      // u-1 keeps another service in Singapore, so its user key stays
      const account = { userId: 'u-1', service: 'account', epoch: 1 };
      await sg.openTenancy({ ...account, market: 'SG' });
      await sg.putRecord({ ...account, collection: 'device', key: 'd1', value: 'Mi 4' });
      // read through the node, so the shop key is in its cache
      expect((await sg.getRecord({ ...shop('u-1'), collection: 'orders', key: 'o1' }))?.version).toBe(2);
      await cutOver('u-1');
      const shopKeys = keyRows('sg-singapore', 'u-1').filter((k) => k.scope.startsWith('shop/'));
      expect(shopKeys).toHaveLength(1);
      const ciphertexts = recordRows('sg-singapore', 'u-1').map((r) => r.ciphertext);

      expect(await purgeOne(sg, { userId: 'u-1', service: 'shop' })).toEqual({ records: 2, keys: 1 });
      expect(recordRows('sg-singapore', 'u-1')).toEqual([]);
      expect(keyRows('sg-singapore', 'u-1').map((k) => k.scope)).toEqual(['', 'account/device']);
      const moved = await expectCode(
        sg.getRecord({ ...shop('u-1', 2), collection: 'orders', key: 'o1' }),
        'WRONG_REGION',
      );
      // Singapore no longer knows the user's shop at all: where they went is the directory's to say.
      expect(moved.details).toEqual({ home: null, service: 'shop' });
      expect((await sg.describeUser({ userId: 'u-1' })).map((h) => h.service)).toEqual(['account']);
      expect((await sg.changesSince({ afterSeq: 0, limit: 100, service: 'shop', userId: 'u-1' })).changes).toEqual([]);
      expect(
        (await sg.changesSince({ afterSeq: 0, limit: 100, service: 'account', userId: 'u-1' })).changes,
      ).toHaveLength(1);
      expect((await sg.getRecord({ ...account, collection: 'device', key: 'd1' }))?.value).toBe('Mi 4');

      const sgDir = regionPaths(dir.path, 'sg-singapore').dir;
      for (const needle of [Buffer.from(canary), ...shopKeys.map((k) => k.wrapped), ...ciphertexts]) {
        expect(filesHoldingBytes(sgDir, needle)).toEqual([]);
      }
      // ...while Oregon serves the user
      expect((await us.getRecord({ ...shop('u-1', 2), collection: 'orders', key: 'o1' }))?.value).toMatchObject({
        item: 'Mi 4',
      });
      expect(await purgeOne(sg, { userId: 'u-1', service: 'shop' })).toEqual({ records: 0, keys: 0 });
    });

    it('forgets shredded keys: data written after a later roll-back is sealed under new keys that outlive a restart', async () => {
      expect((await sg.getRecord({ ...shop('u-1'), collection: 'orders', key: 'o1' }))?.version).toBe(2);
      await cutOver('u-1');
      // u-1 has nothing else here: the user key goes too
      expect(await purgeOne(sg, { userId: 'u-1', service: 'shop' })).toEqual({ records: 2, keys: 2 });
      expect(keyRows('sg-singapore', 'u-1')).toEqual([]);
      // a cached key would seal this under a key no longer stored, unreadable after a restart
      await setOne(sg, { userId: 'u-1', service: 'shop', market: 'SG', epoch: 3, status: 'home', movedTo: null });
      await sg.putRecord({ ...shop('u-1', 3), collection: 'orders', key: 'o9', value: 'after' });
      expect(keyRows('sg-singapore', 'u-1').map((k) => k.scope)).toEqual(['', 'shop/orders']);
      await sg.close();
      sg = await open('sg-singapore');
      expect((await sg.getRecord({ ...shop('u-1', 3), collection: 'orders', key: 'o9' }))?.value).toBe('after');
    });

    it('never purges a live home or a fenced source', async () => {
      const home = await expectCode(purgeOne(sg, { userId: 'u-1', service: 'shop' }), 'CONFLICT');
      expect(home.details).toMatchObject({ status: 'home' });
      await setOne(sg, { userId: 'u-1', service: 'shop', market: 'SG', epoch: 1, status: 'fenced', movedTo: null });
      await expectCode(purgeOne(sg, { userId: 'u-1', service: 'shop' }), 'CONFLICT');
      expect(recordRows('sg-singapore', 'u-1')).toHaveLength(2);
      expect(keyRows('sg-singapore', 'u-1')).toHaveLength(2);
      await expectCode(purgeOne(sg, { userId: 'u-1', service: 'mail' }), 'BAD_REQUEST');
    });
  });
});
