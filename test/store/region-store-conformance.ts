import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomicileError, type ErrorCode } from '../../src/errors/domicile-error.js';
import type {
  AuditAppend,
  ConsentWrite,
  ImportedRecord,
  RecordImport,
  RecordWrite,
  RegionStore,
  Tenancy,
} from '../../src/store/region-store.js';

/**
 * The RegionStore conformance suite: every backend (SQLite now, PostgreSQL later) runs it.
 * `makeStore` returns a fresh, empty store that has not been initialised; the suite calls
 * init() and close() itself.
 */
export function describeRegionStoreConformance(name: string, makeStore: () => Promise<RegionStore>): void {
  describe(`RegionStore conformance: ${name}`, () => {
    let store: RegionStore;

    beforeEach(async () => {
      store = await makeStore();
      await store.init();
    });
    afterEach(async () => {
      await store.close();
    });

    const home = (userId: string, service = 'shop', epoch = 1, market = 'SG'): Tenancy => ({
      userId,
      service,
      market,
      epoch,
      status: 'home',
      movedTo: null,
    });
    const write = (userId: string, key: string, text: string, extra: Partial<RecordWrite> = {}): RecordWrite => ({
      userId,
      service: 'shop',
      collection: 'orders',
      key,
      epoch: 1,
      ciphertext: Buffer.from(text),
      sealedKey: sealed(key),
      ...extra,
    });
    /** What a node would seal the client's key of a record into; opaque bytes to the store. */
    const sealed = (key: string) => Buffer.from(`sealed key of ${key}`);

    async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<DomicileError> {
      try {
        await promise;
      } catch (err) {
        expect(err).toBeInstanceOf(DomicileError);
        expect((err as DomicileError).code).toBe(code);
        return err as DomicileError;
      }
      throw new Error(`expected ${code}, but the call succeeded`);
    }

    it('init is idempotent and reports its backend', async () => {
      await store.init();
      expect(['sqlite', 'postgres']).toContain(store.backend);
      expect(await store.lastSeq()).toBe(0);
    });

    describe('tenancies', () => {
      it('stores, replaces and lists tenancies', async () => {
        expect(await store.getTenancy('u1', 'shop')).toBeUndefined();
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u1', 'cloud', 3, 'MY'));
        await store.putTenancy(home('u2'));
        expect(await store.getTenancy('u1', 'cloud')).toEqual(home('u1', 'cloud', 3, 'MY'));
        const moved: Tenancy = { ...home('u1'), epoch: 2, status: 'moved', movedTo: 'us-oregon' };
        await store.putTenancy(moved);
        expect(await store.getTenancy('u1', 'shop')).toEqual(moved);
        expect(await store.listTenancies('shop')).toEqual([moved, home('u2')]);
        expect(await store.listTenancies()).toHaveLength(3);
        expect(await store.listTenancies('messaging')).toEqual([]);
      });
    });

    describe('wrapped keys', () => {
      it('keeps the first key stored for a scope and returns it to later callers', async () => {
        const first = { userId: 'u1', scope: '', wrapped: Buffer.from([1, 2, 3]), wrappedBy: 'kek-a', createdAt: 1000 };
        expect(await store.getKey('u1', '')).toBeUndefined();
        expect(await store.putKeysIfAbsent([first])).toEqual([first]);
        const second = { ...first, wrapped: Buffer.from([9, 9]), wrappedBy: 'kek-b', createdAt: 2000 };
        expect(await store.putKeysIfAbsent([second])).toEqual([first]);
        expect(await store.getKey('u1', '')).toEqual(first);
        const got = await store.getKey('u1', '');
        expect(Buffer.isBuffer(got?.wrapped)).toBe(true);
      });

      it('stores many keys in one call, returning each stored key in order, first one kept', async () => {
        const key = (userId: string, scope: string, b: number) => ({
          userId,
          scope,
          wrapped: Buffer.from([b]),
          wrappedBy: 'k',
          createdAt: b,
        });
        await store.putKeysIfAbsent([key('u1', '', 1)]);
        const stored = await store.putKeysIfAbsent([key('u2', '', 2), key('u1', '', 3), key('u1', 'shop/orders', 4)]);
        expect(stored).toEqual([key('u2', '', 2), key('u1', '', 1), key('u1', 'shop/orders', 4)]);
        expect(await store.putKeysIfAbsent([])).toEqual([]);
      });

      it('deletes every key of a user, or those under a scope prefix', async () => {
        for (const scope of ['', 'shop/orders', 'shop/device', 'cloud/photos', 'shopping/x', 'sh%p/_x']) {
          await store.putKeysIfAbsent([
            { userId: 'u1', scope, wrapped: Buffer.from(scope), wrappedBy: 'k', createdAt: 1 },
          ]);
        }
        await store.putKeysIfAbsent([
          { userId: 'u2', scope: 'shop/orders', wrapped: Buffer.from('x'), wrappedBy: 'k', createdAt: 1 },
        ]);
        expect(await store.deleteKeys('u1', 'shop/')).toBe(2);
        expect(await store.getKey('u1', 'shop/orders')).toBeUndefined();
        expect(await store.getKey('u1', 'shopping/x')).toBeDefined();
        expect(await store.getKey('u1', 'sh%p/_x')).toBeDefined();
        expect(await store.getKey('u2', 'shop/orders')).toBeDefined();
        expect(await store.deleteKeys('u1')).toBe(4);
        expect(await store.getKey('u1', '')).toBeUndefined();
        expect(await store.getKey('u2', 'shop/orders')).toBeDefined();
        expect(await store.deleteKeys('nobody')).toBe(0);
      });
    });

    describe('records', () => {
      beforeEach(async () => {
        await store.putTenancy(home('u1'));
      });

      it('writes, versions, reads and lists records', async () => {
        const first = await store.writeRecord(write('u1', 'o1', 'sealed-1'));
        expect(first.version).toBe(1);
        expect(first.seq).toBeGreaterThan(0);
        expect(first.updatedAt).toBeGreaterThan(0);
        const second = await store.writeRecord(write('u1', 'o1', 'sealed-2'));
        expect(second.version).toBe(2);
        expect(second.seq).toBeGreaterThan(first.seq);
        const record = await store.getRecord('u1', 'shop', 'orders', 'o1');
        expect(record).toEqual({
          userId: 'u1',
          service: 'shop',
          collection: 'orders',
          key: 'o1',
          version: 2,
          ciphertext: Buffer.from('sealed-2'),
          updatedAt: second.updatedAt,
          sealedKey: sealed('o1'),
        });
        expect(await store.getRecord('u1', 'shop', 'orders', 'nope')).toBeUndefined();
        expect(await store.getRecord('u2', 'shop', 'orders', 'o1')).toBeUndefined();

        await store.writeRecord(write('u1', 'a0', 'sealed-a'));
        await store.writeRecord(write('u1', 'd1', 'sealed-d', { collection: 'device' }));
        const all = await store.listRecords('u1', 'shop');
        expect(all.map((r) => `${r.collection}/${r.key}`)).toEqual(['device/d1', 'orders/a0', 'orders/o1']);
        const orders = await store.listRecords('u1', 'shop', 'orders');
        expect(orders.map((r) => r.ciphertext.toString())).toEqual(['sealed-a', 'sealed-2']);
        expect(await store.listRecords('u1', 'cloud')).toEqual([]);
      });

      it('exports several users at once, in the order asked: erasure, tenancy and records of the service in listRecords order', async () => {
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u2'));
        await store.putTenancy(home('u2', 'cloud'));
        await store.writeRecord(write('u1', 'b', 'sealed-b'));
        await store.writeRecord(write('u1', 'a', 'sealed-a'));
        await store.writeRecord(write('u1', 'd1', 'sealed-d', { collection: 'device' }));
        await store.writeRecord(write('u2', 'x', 'sealed-x'));
        await store.writeRecord(write('u2', 'c1', 'sealed-c', { service: 'cloud', collection: 'photos' }));
        const out = await store.exportTenants('shop', ['u2', 'nobody', 'u1']);
        expect(out.map((t) => [t.userId, t.erased, t.tenancy?.status ?? null])).toEqual([
          ['u2', false, 'home'],
          ['nobody', false, null],
          ['u1', false, 'home'],
        ]);
        expect(out[0]!.records).toEqual(await store.listRecords('u2', 'shop'));
        expect(out[1]!.records).toEqual([]);
        expect(out[2]!.records).toEqual(await store.listRecords('u1', 'shop'));
        expect(out[2]!.records.map((r) => `${r.collection}/${r.key}`)).toEqual(['device/d1', 'orders/a', 'orders/b']);
        expect(await store.tenantsOf('shop', ['u2', 'nobody', 'u1'])).toEqual(
          out.map(({ userId, erased, tenancy }) => ({ userId, erased, tenancy })),
        );
        await store.eraseUser('u2', append(0, 1));
        expect((await store.exportTenants('shop', ['u2']))[0]).toEqual({
          userId: 'u2',
          erased: true,
          tenancy: undefined,
          records: [],
        });
        expect(await store.tenantsOf('shop', ['u2', 'u1'])).toEqual([
          { userId: 'u2', erased: true, tenancy: undefined },
          { userId: 'u1', erased: false, tenancy: home('u1') },
        ]);
        expect(await store.tenantsOf('shop', [])).toEqual([]);
        expect(await store.exportTenants('shop', [])).toEqual([]);
      });

      it('lists a collection a page at a time in its stable order of keys, leaving parts out when asked (issue 14, item 11)', async () => {
        for (const key of ['b', 'a', 'ph_1', 'ph_1~000000', 'ph_1~000001', 'c', 'Z'])
          await store.writeRecord(write('u1', key, `sealed-${key}`));
        await store.writeRecord(write('u1', 'd1', 'sealed-d', { collection: 'device' }));
        const keys = async (page: { after?: string; limit: number; withoutParts?: boolean }) =>
          (await store.listRecords('u1', 'shop', 'orders', page)).map((r) => r.key);
        expect(await keys({ limit: 3 })).toEqual(['Z', 'a', 'b']);
        expect(await keys({ after: 'b', limit: 3 })).toEqual(['c', 'ph_1', 'ph_1~000000']);
        expect(await keys({ after: 'ph_1~000000', limit: 3 })).toEqual(['ph_1~000001']);
        expect(await keys({ after: 'b', limit: 3, withoutParts: true })).toEqual(['c', 'ph_1']);
        expect(await keys({ after: 'ph_1', limit: 3, withoutParts: true })).toEqual([]);
        // The unpaged listing is as it was.
        expect((await store.listRecords('u1', 'shop', 'orders')).map((r) => r.key)).toEqual([
          'Z',
          'a',
          'b',
          'c',
          'ph_1',
          'ph_1~000000',
          'ph_1~000001',
        ]);
      });

      it('reads a record on the request path only for a user it serves at that epoch', async () => {
        const read = { userId: 'u1', service: 'shop', collection: 'orders', key: 'o1', epoch: 1 };
        expect(await store.readRecord(read)).toBeUndefined();
        const written = await store.writeRecord(write('u1', 'o1', 'sealed'));
        expect(await store.readRecord(read)).toEqual({
          userId: 'u1',
          service: 'shop',
          collection: 'orders',
          key: 'o1',
          version: 1,
          ciphertext: Buffer.from('sealed'),
          updatedAt: written.updatedAt,
          sealedKey: sealed('o1'),
        });
        expect(await store.readRecord({ ...read, key: 'o2' })).toBeUndefined();
        expect(await store.readRecord({ ...read, collection: 'device' })).toBeUndefined();
        const none = await failure(store.readRecord({ ...read, userId: 'stranger' }), 'WRONG_REGION');
        expect(none.details).toMatchObject({ home: null });
        const stale = await failure(store.readRecord({ ...read, epoch: 2 }), 'STALE_EPOCH');
        expect(stale.details).toMatchObject({ epoch: 1 });
        await store.putTenancy({ ...home('u1'), status: 'fenced' });
        await failure(store.readRecord(read), 'FENCED');
        await store.putTenancy({ ...home('u1'), status: 'incoming' });
        await failure(store.readRecord(read), 'FENCED');
        await store.putTenancy({ ...home('u1'), epoch: 2, status: 'moved', movedTo: 'in-mumbai' });
        const moved = await failure(store.readRecord({ ...read, epoch: 2 }), 'WRONG_REGION');
        expect(moved.details).toMatchObject({ home: 'in-mumbai' });
      });

      it('checks the optimistic version, and a conflict changes nothing', async () => {
        expect((await store.writeRecord(write('u1', 'o1', 'v1', { ifVersion: 0 }))).version).toBe(1);
        const seq = await store.lastSeq();
        const exists = await failure(store.writeRecord(write('u1', 'o1', 'again', { ifVersion: 0 })), 'CONFLICT');
        expect(exists.details).toMatchObject({ version: 1 });
        const stale = await failure(store.writeRecord(write('u1', 'o1', 'late', { ifVersion: 3 })), 'CONFLICT');
        expect(stale.details).toMatchObject({ version: 1 });
        const missing = await failure(store.writeRecord(write('u1', 'o9', 'x', { ifVersion: 1 })), 'CONFLICT');
        expect(missing.details).toMatchObject({ version: 0 });
        expect(await store.lastSeq()).toBe(seq);
        expect((await store.getRecord('u1', 'shop', 'orders', 'o1'))?.ciphertext.toString()).toBe('v1');
        expect(await store.getRecord('u1', 'shop', 'orders', 'o9')).toBeUndefined();
        expect((await store.writeRecord(write('u1', 'o1', 'v2', { ifVersion: 1 }))).version).toBe(2);
      });

      it('refuses users it does not home, with where they went', async () => {
        const none = await failure(store.writeRecord(write('stranger', 'o1', 'x')), 'WRONG_REGION');
        expect(none.details).toMatchObject({ home: null });
        await store.putTenancy({ ...home('u2'), epoch: 2, status: 'moved', movedTo: 'us-oregon' });
        const moved = await failure(store.writeRecord(write('u2', 'o1', 'x', { epoch: 2 })), 'WRONG_REGION');
        expect(moved.details).toMatchObject({ home: 'us-oregon' });
        const otherService = await failure(
          store.writeRecord(write('u1', 'o1', 'x', { service: 'cloud' })),
          'WRONG_REGION',
        );
        expect(otherService.details).toMatchObject({ home: null });
        expect(await store.lastSeq()).toBe(0);
      });

      it('refuses a fenced or incoming user with FENCED, and a stale epoch with the current one', async () => {
        await store.putTenancy({ ...home('u1'), status: 'fenced' });
        await failure(store.writeRecord(write('u1', 'o1', 'x')), 'FENCED');
        await failure(
          store.deleteRecord({ userId: 'u1', service: 'shop', collection: 'orders', key: 'o1', epoch: 1 }),
          'FENCED',
        );
        await store.putTenancy({ ...home('u1'), status: 'incoming' });
        await failure(store.writeRecord(write('u1', 'o1', 'x')), 'FENCED');
        await store.putTenancy({ ...home('u1'), epoch: 4 });
        const stale = await failure(store.writeRecord(write('u1', 'o1', 'x', { epoch: 3 })), 'STALE_EPOCH');
        expect(stale.details).toMatchObject({ epoch: 4 });
        const ahead = await failure(store.writeRecord(write('u1', 'o1', 'x', { epoch: 5 })), 'STALE_EPOCH');
        expect(ahead.details).toMatchObject({ epoch: 4 });
        expect(await store.getRecord('u1', 'shop', 'orders', 'o1')).toBeUndefined();
        expect(await store.lastSeq()).toBe(0);
        expect((await store.writeRecord(write('u1', 'o1', 'x', { epoch: 4 }))).version).toBe(1);
      });

      it('deletes records with the same checks, and reports an absent one', async () => {
        const put = await store.writeRecord(write('u1', 'o1', 'x'));
        await store.writeRecord(write('u1', 'o1', 'y'));
        const del = { userId: 'u1', service: 'shop', collection: 'orders', key: 'o1', epoch: 1 };
        expect(await store.deleteRecord({ ...del, key: 'absent' })).toBeUndefined();
        const conflict = await failure(store.deleteRecord({ ...del, ifVersion: 1 }), 'CONFLICT');
        expect(conflict.details).toMatchObject({ version: 2 });
        await failure(store.deleteRecord({ ...del, epoch: 2 }), 'STALE_EPOCH');
        await failure(store.deleteRecord({ ...del, userId: 'stranger' }), 'WRONG_REGION');
        const seqBefore = await store.lastSeq();
        const deleted = await store.deleteRecord({ ...del, ifVersion: 2 });
        expect(deleted?.version).toBe(2);
        expect(deleted?.seq).toBeGreaterThan(seqBefore);
        expect(deleted?.seq).toBeGreaterThan(put.seq);
        expect(await store.getRecord('u1', 'shop', 'orders', 'o1')).toBeUndefined();
        expect(await store.deleteRecord(del)).toBeUndefined();
        expect(await store.lastSeq()).toBe(deleted?.seq);
        // a new record under the same key starts again
        expect((await store.writeRecord(write('u1', 'o1', 'z', { ifVersion: 0 }))).version).toBe(1);
      });

      it('purges a user per service or entirely, without change entries', async () => {
        await store.putTenancy(home('u1', 'cloud'));
        await store.putTenancy(home('u2'));
        await store.writeRecord(write('u1', 'o1', 'a'));
        await store.writeRecord(write('u1', 'o2', 'b'));
        await store.writeRecord({ ...write('u1', 'p1', 'c'), service: 'cloud', collection: 'photos' });
        await store.writeRecord(write('u2', 'o1', 'd'));
        const seq = await store.lastSeq();
        expect(await store.purgeUser('u1', 'shop')).toBe(2);
        expect(await store.listRecords('u1', 'shop')).toEqual([]);
        expect(await store.listRecords('u1', 'cloud')).toHaveLength(1);
        expect(await store.purgeUser('u1')).toBe(1);
        expect(await store.listRecords('u1', 'cloud')).toEqual([]);
        expect(await store.listRecords('u2', 'shop')).toHaveLength(1);
        expect(await store.purgeUser('u1')).toBe(0);
        expect(await store.lastSeq()).toBe(seq);
        // purging keeps the tenancy: moving a user is the caller's decision
        expect(await store.getTenancy('u1', 'shop')).toBeDefined();
      });
    });

    describe('change log', () => {
      it('records every put and delete, in a strictly increasing sequence', async () => {
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u2', 'cloud', 7));
        const results = [
          await store.writeRecord(write('u1', 'o1', 'a')),
          await store.writeRecord(write('u1', 'o1', 'b')),
          await store.writeRecord({ ...write('u2', 'p1', 'c'), service: 'cloud', collection: 'photos', epoch: 7 }),
          await store.deleteRecord({ userId: 'u1', service: 'shop', collection: 'orders', key: 'o1', epoch: 1 }),
        ];
        const changes = await store.changesSince(0, 100);
        expect(changes.map((c) => [c.userId, c.service, c.collection, c.key, c.op, c.version])).toEqual([
          ['u1', 'shop', 'orders', 'o1', 'put', 1],
          ['u1', 'shop', 'orders', 'o1', 'put', 2],
          ['u2', 'cloud', 'photos', 'p1', 'put', 1],
          ['u1', 'shop', 'orders', 'o1', 'delete', 2],
        ]);
        expect(changes.map((c) => c.seq)).toEqual(results.map((r) => r?.seq));
        // every entry carries the record's sealed key: a put's from the write, a delete's from the row it removed
        expect(changes.map((c) => c.sealedKey)).toEqual([sealed('o1'), sealed('o1'), sealed('p1'), sealed('o1')]);
        expect(changes.map((c) => c.at)).toEqual(results.map((r) => r?.updatedAt));
        for (let i = 1; i < changes.length; i++) expect(changes[i]!.seq).toBeGreaterThan(changes[i - 1]!.seq);
        expect(await store.lastSeq()).toBe(changes[3]?.seq);
        // rows written without a sealed key (as by a version before keyIds) are counted, record and change entry
        expect(await store.countUnsealedKeys()).toBe(0);
        await store.writeRecord({ ...write('u1', 'o9', 'x'), sealedKey: undefined });
        expect(await store.countUnsealedKeys()).toBe(2);
      });

      it('pages from any position, oldest first', async () => {
        await store.putTenancy(home('u1'));
        for (let i = 0; i < 25; i++) await store.writeRecord(write('u1', `k${i}`, `v${i}`));
        const seen: number[] = [];
        let after = 0;
        for (;;) {
          const page = await store.changesSince(after, 10);
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(10);
          seen.push(...page.map((c) => c.seq));
          after = page[page.length - 1]!.seq;
        }
        expect(seen).toHaveLength(25);
        expect(new Set(seen).size).toBe(25);
        expect([...seen].sort((a, b) => a - b)).toEqual(seen);
        expect(await store.changesSince(await store.lastSeq(), 10)).toEqual([]);
        const tail = await store.changesSince(seen[19]!, 100);
        expect(tail.map((c) => c.key)).toEqual(['k20', 'k21', 'k22', 'k23', 'k24']);
      });

      it('pages the changes of one service only', async () => {
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u1', 'cloud'));
        for (let i = 0; i < 12; i++) {
          await store.writeRecord(write('u1', `o${i}`, 'x'));
          await store.writeRecord({ ...write('u1', `p${i}`, 'y'), service: 'cloud', collection: 'photos' });
        }
        const cloud: string[] = [];
        let after = 0;
        for (;;) {
          const page = await store.changesSince(after, 5, 'cloud');
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(5);
          expect(page.every((c) => c.service === 'cloud')).toBe(true);
          cloud.push(...page.map((c) => c.key));
          after = page[page.length - 1]!.seq;
        }
        expect(cloud).toEqual(Array.from({ length: 12 }, (_, i) => `p${i}`));
        expect(await store.changesSince(0, 100, 'messaging')).toEqual([]);
        expect(await store.changesSince(0, 100)).toHaveLength(24);
      });

      it("pages the changes of one user of one service (a device's sync)", async () => {
        for (const u of ['u1', 'u2']) {
          await store.putTenancy(home(u));
          await store.putTenancy(home(u, 'cloud'));
        }
        for (let i = 0; i < 6; i++) {
          await store.writeRecord(write('u1', `o${i}`, 'x'));
          await store.writeRecord({ ...write('u1', `p${i}`, 'y'), service: 'cloud', collection: 'photos' });
          await store.writeRecord({ ...write('u2', `q${i}`, 'z'), service: 'cloud', collection: 'photos' });
        }
        const mine = await store.changesSince(0, 4, 'cloud', 'u1');
        expect(mine.map((c) => `${c.userId}/${c.service}/${c.key}`)).toEqual([
          'u1/cloud/p0',
          'u1/cloud/p1',
          'u1/cloud/p2',
          'u1/cloud/p3',
        ]);
        expect((await store.changesSince(mine[3]!.seq, 4, 'cloud', 'u1')).map((c) => c.key)).toEqual(['p4', 'p5']);
        await expect(store.changesSince(0, 4, undefined, 'u1')).rejects.toThrow(/takes that user's service too/);
      });

      it('gives concurrent writes distinct versions and sequence numbers', async () => {
        await store.putTenancy(home('u1'));
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => store.writeRecord(write('u1', 'hot', `v${i}`))),
        );
        expect(new Set(results.map((r) => r.version)).size).toBe(40);
        expect(Math.max(...results.map((r) => r.version))).toBe(40);
        expect(new Set(results.map((r) => r.seq)).size).toBe(40);
        expect((await store.getRecord('u1', 'shop', 'orders', 'hot'))?.version).toBe(40);
      });
    });

    describe('tenancy changes by a migration', () => {
      it('sets any status at the same or a higher epoch, never a lower one', async () => {
        await store.advanceTenancies([home('u1', 'shop', 2)]);
        expect(await store.getTenancy('u1', 'shop')).toEqual(home('u1', 'shop', 2));
        const fenced: Tenancy = { ...home('u1', 'shop', 2), status: 'fenced' };
        await store.advanceTenancies([fenced]);
        expect(await store.getTenancy('u1', 'shop')).toEqual(fenced);
        const moved: Tenancy = { ...home('u1', 'shop', 3), status: 'moved', movedTo: 'us-oregon' };
        await store.advanceTenancies([moved]);
        expect(await store.getTenancy('u1', 'shop')).toEqual(moved);
        const back = await failure(store.advanceTenancies([home('u1', 'shop', 2)]), 'STALE_EPOCH');
        expect(back.details).toMatchObject({ epoch: 3 });
        expect(await store.getTenancy('u1', 'shop')).toEqual(moved);
        // a roll-back at the same epoch restores the home
        await store.advanceTenancies([home('u1', 'shop', 3)]);
        expect(await store.getTenancy('u1', 'shop')).toEqual(home('u1', 'shop', 3));
      });

      it('sets a batch of users in one transaction: one stale epoch refuses them all', async () => {
        await store.advanceTenancies([home('u1', 'shop', 2), home('u2', 'shop', 5)]);
        const fenced = (t: Tenancy): Tenancy => ({ ...t, status: 'fenced' });
        const stale = await failure(
          store.advanceTenancies([fenced(home('u1', 'shop', 2)), fenced(home('u2', 'shop', 4))]),
          'STALE_EPOCH',
        );
        expect(stale.details).toMatchObject({ epoch: 5 });
        expect(await store.getTenancy('u1', 'shop')).toEqual(home('u1', 'shop', 2));
        await store.advanceTenancies([fenced(home('u1', 'shop', 2)), fenced(home('u2', 'shop', 5))]);
        expect((await store.listTenancies('shop')).map((t) => t.status)).toEqual(['fenced', 'fenced']);
      });
    });

    describe('imports', () => {
      const put = (key: string, version: number, text: string, collection = 'orders'): ImportedRecord => ({
        collection,
        key,
        version,
        ciphertext: Buffer.from(text),
        updatedAt: 1_400_000_000_000 + version,
        sealedKey: sealed(key),
      });
      const batch = (
        userId: string,
        puts: ImportedRecord[],
        deletes: RecordImport['deletes'] = [],
        extra: Partial<RecordImport> = {},
      ): RecordImport => ({
        userId,
        service: 'shop',
        market: 'IN',
        epoch: 4,
        puts,
        deletes,
        ...extra,
      });

      it('creates an incoming tenancy and keeps the given versions and times, logging nothing for a copy nobody serves', async () => {
        const result = await store.importRecords([
          batch('u1', [put('o1', 7, 'seven'), put('o2', 1, 'one'), put('d1', 3, 'dev', 'device')]),
        ]);
        expect(result.applied).toBe(3);
        expect(result.lastSeq).toBe(await store.lastSeq());
        expect(await store.getTenancy('u1', 'shop')).toEqual({
          userId: 'u1',
          service: 'shop',
          market: 'IN',
          epoch: 4,
          status: 'incoming',
          movedTo: null,
        });
        expect(await store.getRecord('u1', 'shop', 'orders', 'o1')).toEqual({
          userId: 'u1',
          service: 'shop',
          collection: 'orders',
          key: 'o1',
          version: 7,
          ciphertext: Buffer.from('seven'),
          updatedAt: 1_400_000_000_007,
          sealedKey: sealed('o1'),
        });
        expect(await store.changesSince(0, 100)).toEqual([]);
        // served once the coordinator makes this region the home: versions go on from the imported ones
        await store.putTenancy({ ...home('u1', 'shop', 4, 'IN') });
        expect((await store.writeRecord(write('u1', 'o1', 'eight', { epoch: 4 }))).version).toBe(8);
      });

      it('is idempotent: the same rows again change nothing and log nothing', async () => {
        const rows = [put('o1', 2, 'two'), put('o2', 5, 'five')];
        expect((await store.importRecords([batch('u1', rows, [{ collection: 'orders', key: 'gone' }])])).applied).toBe(
          2,
        );
        const seq = await store.lastSeq();
        const again = await store.importRecords([batch('u1', rows, [{ collection: 'orders', key: 'gone' }])]);
        expect(again).toEqual({ applied: 0, lastSeq: seq });
        expect(await store.lastSeq()).toBe(seq);
      });

      it('overwrites what differs, at any version, and deletes what is named as deleted, logging each change where the user moved away', async () => {
        await store.importRecords([batch('u1', [put('o1', 4, 'four'), put('o2', 2, 'two'), put('o3', 1, 'one')])]);
        // A source the user moved away from takes a move's changes back (reverse replication): logged.
        await store.advanceTenancies([{ ...home('u1', 'shop', 5, 'IN'), status: 'moved', movedTo: 'us-oregon' }]);
        const seq = await store.lastSeq();
        const result = await store.importRecords([
          batch(
            'u1',
            [
              put('o1', 4, 'four, sealed again'), // same version, new ciphertext: replaced
              put('o2', 1, 'deleted and written again'), // a lower version is the source's truth too
            ],
            [
              { collection: 'orders', key: 'o3' },
              { collection: 'orders', key: 'never-here' },
            ],
          ),
        ]);
        expect(result.applied).toBe(3);
        expect((await store.getRecord('u1', 'shop', 'orders', 'o1'))?.ciphertext.toString()).toBe('four, sealed again');
        expect((await store.getRecord('u1', 'shop', 'orders', 'o2'))?.version).toBe(1);
        expect(await store.getRecord('u1', 'shop', 'orders', 'o3')).toBeUndefined();
        const changes = await store.changesSince(seq, 100);
        expect(changes.map((c) => [c.key, c.op, c.version])).toEqual([
          ['o1', 'put', 4],
          ['o2', 'put', 1],
          ['o3', 'delete', 1],
        ]);
        // each entry carries the sealed key of the record it names (a delete's from the row it removed)
        expect(changes.map((c) => c.sealedKey)).toEqual([sealed('o1'), sealed('o2'), sealed('o3')]);
      });

      it('leaves an existing tenancy that is not home as it is', async () => {
        const moved: Tenancy = { ...home('u1', 'shop', 6, 'SG'), status: 'moved', movedTo: 'us-oregon' };
        await store.putTenancy(moved);
        await store.importRecords([batch('u1', [put('o1', 1, 'back')])]);
        expect(await store.getTenancy('u1', 'shop')).toEqual(moved);
        const fenced: Tenancy = { ...home('u2', 'shop', 2, 'SG'), status: 'fenced' };
        await store.putTenancy(fenced);
        await store.importRecords([batch('u2', [put('o1', 1, 'x')])]);
        expect(await store.getTenancy('u2', 'shop')).toEqual(fenced);
      });

      it('imports several users in one call, and one refused user refuses them all', async () => {
        const both = await store.importRecords([
          batch('u1', [put('o1', 1, 'a')]),
          batch('u2', [put('o1', 2, 'b'), put('o2', 1, 'c')]),
        ]);
        expect(both.applied).toBe(3);
        expect((await store.listTenancies('shop')).map((t) => [t.userId, t.status])).toEqual([
          ['u1', 'incoming'],
          ['u2', 'incoming'],
        ]);
        await store.putTenancy(home('u3'));
        await failure(
          store.importRecords([batch('u4', [put('o1', 1, 'x')]), batch('u3', [put('o1', 1, 'y')])]),
          'CONFLICT',
        );
        expect(await store.getTenancy('u4', 'shop')).toBeUndefined();
        expect(await store.getRecord('u4', 'shop', 'orders', 'o1')).toBeUndefined();
      });

      it('refuses to import into a home, and changes nothing', async () => {
        await store.putTenancy(home('u1'));
        await store.writeRecord(write('u1', 'o1', 'live'));
        const seq = await store.lastSeq();
        const refused = await failure(
          store.importRecords([batch('u1', [put('o1', 9, 'stale copy')], [{ collection: 'orders', key: 'o2' }])]),
          'CONFLICT',
        );
        expect(refused.details).toMatchObject({ status: 'home' });
        expect((await store.getRecord('u1', 'shop', 'orders', 'o1'))?.ciphertext.toString()).toBe('live');
        expect(await store.lastSeq()).toBe(seq);
      });

      it('is atomic: a record named twice, or a row that fails, leaves nothing behind', async () => {
        const twice = await failure(
          store.importRecords([batch('u1', [put('o1', 1, 'a')], [{ collection: 'orders', key: 'o1' }])]),
          'BAD_REQUEST',
        );
        expect(twice.details).toMatchObject({ collection: 'orders', key: 'o1' });
        const broken = { ...put('o2', 1, 'x'), ciphertext: null as unknown as Buffer };
        await expect(store.importRecords([batch('u1', [put('o1', 1, 'a'), broken])])).rejects.toThrow();
        expect(await store.getTenancy('u1', 'shop')).toBeUndefined();
        expect(await store.getRecord('u1', 'shop', 'orders', 'o1')).toBeUndefined();
        expect(await store.lastSeq()).toBe(0);
      });
    });

    describe('purging a tenant', () => {
      const key = (userId: string, scope: string) => ({
        userId,
        scope,
        wrapped: Buffer.from(`${userId}:${scope}`),
        wrappedBy: 'k',
        createdAt: 1,
      });

      beforeEach(async () => {
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u1', 'cloud'));
        await store.putTenancy(home('u2'));
        for (const k of [
          key('u1', ''),
          key('u1', 'shop/orders'),
          key('u1', 'shop/device'),
          key('u1', 'shopping/x'),
          key('u1', 'cloud/photos'),
          key('u2', ''),
          key('u2', 'shop/orders'),
        ]) {
          await store.putKeysIfAbsent([k]);
        }
        await store.writeRecord(write('u1', 'o1', 'a'));
        await store.writeRecord(write('u1', 'd1', 'b', { collection: 'device' }));
        await store.writeRecord({ ...write('u1', 'p1', 'c'), service: 'cloud', collection: 'photos' });
        await store.writeRecord(write('u2', 'o1', 'd'));
      });

      it('refuses a home or fenced tenancy, and changes nothing', async () => {
        const live = await failure(store.purgeTenants('shop', ['u1']), 'CONFLICT');
        expect(live.details).toMatchObject({ status: 'home' });
        await store.putTenancy({ ...home('u1'), status: 'fenced' });
        const fenced = await failure(store.purgeTenants('shop', ['u1']), 'CONFLICT');
        expect(fenced.details).toMatchObject({ status: 'fenced' });
        expect(await store.listRecords('u1', 'shop')).toHaveLength(2);
        expect(await store.getKey('u1', 'shop/orders')).toBeDefined();
      });

      it("deletes the service's records, keys, change entries and tenancy, and keeps the user key others need", async () => {
        const moved: Tenancy = { ...home('u1', 'shop', 2), status: 'moved', movedTo: 'in-mumbai' };
        await store.putTenancy(moved);
        const others = (await store.changesSince(0, 100)).filter((c) => c.userId !== 'u1' || c.service !== 'shop');
        const seq = await store.lastSeq();
        expect(await store.purgeTenants('shop', ['u1'])).toEqual({ records: 2, keys: 2, changes: 2, tenancies: 1 });
        expect(await store.listRecords('u1', 'shop')).toEqual([]);
        expect(await store.getKey('u1', 'shop/orders')).toBeUndefined();
        expect(await store.getKey('u1', 'shop/device')).toBeUndefined();
        // not a prefix match on the service's name alone
        expect(await store.getKey('u1', 'shopping/x')).toBeDefined();
        expect(await store.getKey('u1', '')).toBeDefined();
        expect(await store.listRecords('u1', 'cloud')).toHaveLength(1);
        expect(await store.listRecords('u2', 'shop')).toHaveLength(1);
        expect(await store.getKey('u2', 'shop/orders')).toBeDefined();
        // Nothing names u1's shop here any more: no tenancy, no change entry (the directory says where they went).
        expect(await store.getTenancy('u1', 'shop')).toBeUndefined();
        expect(await store.getTenancy('u1', 'cloud')).toEqual(home('u1', 'cloud'));
        expect(await store.changesSince(0, 100, 'shop', 'u1')).toEqual([]);
        expect(await store.changesSince(0, 100)).toEqual(others);
        expect(await store.lastSeq()).toBe(seq);
        // A request for the user is refused as for anyone this region does not know.
        await failure(store.writeRecord({ ...write('u1', 'o9', 'z'), epoch: 2 }), 'WRONG_REGION');
        // retried after a crash: nothing more to do
        expect(await store.purgeTenants('shop', ['u1'])).toEqual({ records: 0, keys: 0, changes: 0, tenancies: 0 });
      });

      it("never moves the change log's last sequence number back, even when the newest entries are purged", async () => {
        // u1's shop changes are the newest in the log; u2 keeps writing while u1 is purged.
        await store.writeRecord(write('u1', 'o2', 'e'));
        await store.writeRecord(write('u1', 'o3', 'f'));
        await store.putTenancy({ ...home('u1', 'shop', 2), status: 'moved', movedTo: 'in-mumbai' });
        const seq = await store.lastSeq();
        const tail = await store.changesSince(seq, 100);
        expect(tail).toEqual([]);
        const [purged, during] = await Promise.all([
          store.purgeTenants('shop', ['u1']),
          store.writeRecord(write('u2', 'o2', 'g')),
        ]);
        expect(purged).toMatchObject({ records: 4, changes: 4, tenancies: 1 });
        expect(during.seq).toBeGreaterThan(seq);
        expect(await store.lastSeq()).toBeGreaterThanOrEqual(during.seq);
        // A reader that had read up to seq sees u2's write and nothing of u1's.
        expect((await store.changesSince(seq, 100)).map((c) => [c.userId, c.key])).toEqual([['u2', 'o2']]);
        // Once u2's write is purged too, the last seq still stays where it was, and the next write goes past it.
        await store.putTenancy({ ...home('u2', 'shop', 2), status: 'moved', movedTo: 'in-mumbai' });
        const last = await store.lastSeq();
        await store.purgeTenants('shop', ['u2']);
        expect(await store.changesSince(0, 100, 'shop')).toEqual([]);
        expect(await store.lastSeq()).toBe(last);
        await store.putTenancy(home('u3'));
        expect((await store.writeRecord(write('u3', 'o1', 'h'))).seq).toBeGreaterThan(last);
      });

      it('purges an imported copy nobody served (a discarded copy), tenancy included', async () => {
        await store.importRecords([
          {
            userId: 'u9',
            service: 'shop',
            market: 'SG',
            epoch: 2,
            puts: [{ collection: 'orders', key: 'o1', version: 3, ciphertext: Buffer.from('x'), updatedAt: 5 }],
            deletes: [],
          },
        ]);
        expect(await store.purgeTenants('shop', ['u9'])).toEqual({ records: 1, keys: 0, changes: 0, tenancies: 1 });
        expect(await store.getTenancy('u9', 'shop')).toBeUndefined();
      });

      it('purges several users in one call, and refuses them all when one is live', async () => {
        await store.putTenancy({ ...home('u1', 'shop', 2), status: 'moved', movedTo: 'in-mumbai' });
        await failure(store.purgeTenants('shop', ['u1', 'u2']), 'CONFLICT');
        expect(await store.listRecords('u1', 'shop')).toHaveLength(2);
        await store.putTenancy({ ...home('u2', 'shop', 2), status: 'moved', movedTo: 'in-mumbai' });
        // u2's user key goes too: no other key or live tenancy of u2 is left.
        expect(await store.purgeTenants('shop', ['u1', 'u2'])).toEqual({
          records: 3,
          keys: 4,
          changes: 3,
          tenancies: 2,
        });
        expect(await store.listRecords('u2', 'shop')).toEqual([]);
        expect(await store.getKey('u2', '')).toBeUndefined();
      });

      it('shreds the user key with the last service that needed it', async () => {
        await store.putTenancy({ ...home('u1', 'cloud', 2), status: 'moved', movedTo: 'us-oregon' });
        // the shop tenancy is home and keyed: the user key stays
        expect(await store.purgeTenants('cloud', ['u1'])).toEqual({ records: 1, keys: 1, changes: 1, tenancies: 1 });
        expect(await store.getKey('u1', '')).toBeDefined();
        await store.deleteKeys('u1', 'shopping/');
        // messaging is incoming without a key yet, but may make one: the user key stays
        await store.putTenancy({ ...home('u1', 'messaging', 2), status: 'incoming' });
        await store.putTenancy({ ...home('u1', 'shop', 2), status: 'moved', movedTo: 'us-oregon' });
        expect(await store.purgeTenants('shop', ['u1'])).toEqual({ records: 2, keys: 2, changes: 2, tenancies: 1 });
        expect(await store.getKey('u1', '')).toBeDefined();
        // ...and once every tenancy has moved on and no other key is left, it goes too
        await store.putTenancy({ ...home('u1', 'messaging', 2), status: 'moved', movedTo: 'us-oregon' });
        expect(await store.purgeTenants('messaging', ['u1'])).toEqual({
          records: 0,
          keys: 1,
          changes: 0,
          tenancies: 1,
        });
        expect(await store.getKey('u1', '')).toBeUndefined();
        expect(await store.getKey('u2', '')).toBeDefined();
      });
    });

    describe('placement stats', () => {
      it('counts users, records and bytes per market and service', async () => {
        await store.putTenancy(home('u1', 'shop', 1, 'SG'));
        await store.putTenancy(home('u2', 'shop', 1, 'SG'));
        await store.putTenancy(home('u3', 'shop', 1, 'MY'));
        await store.putTenancy(home('u1', 'cloud', 1, 'SG'));
        await store.putTenancy({ ...home('u4', 'shop', 1, 'IN'), status: 'moved', movedTo: 'in-mumbai' });
        await store.putTenancy({ ...home('u5', 'shop', 2, 'IN') });
        await store.writeRecord(write('u1', 'o1', '12345'));
        await store.writeRecord(write('u1', 'o2', '123'));
        await store.writeRecord(write('u3', 'o1', '1234567'));
        await store.writeRecord({ ...write('u5', 'o1', '12'), epoch: 2 });
        // u5 moved away but its data is still here (not yet purged): it must show
        await store.putTenancy({ ...home('u5', 'shop', 2, 'IN'), status: 'moved', movedTo: 'in-mumbai' });
        const stats = await store.placementStats();
        const byKey = Object.fromEntries(stats.map((s) => [`${s.market}/${s.service}`, s]));
        expect(byKey['SG/shop']).toEqual({ market: 'SG', service: 'shop', users: 2, records: 2, bytes: 8, residue: 0 });
        expect(byKey['MY/shop']).toEqual({ market: 'MY', service: 'shop', users: 1, records: 1, bytes: 7, residue: 0 });
        expect(byKey['SG/cloud']).toEqual({
          market: 'SG',
          service: 'cloud',
          users: 1,
          records: 0,
          bytes: 0,
          residue: 0,
        });
        // u4 moved away and its tenancy row still names it here; u5 left data behind too: both are residue
        // Both tenancies say where they moved: the report tells a move still open from residue by it.
        expect(byKey['IN/shop']).toEqual({
          market: 'IN',
          service: 'shop',
          users: 1,
          records: 1,
          bytes: 2,
          residue: 2,
          movedTo: { 'in-mumbai': 2 },
        });
        expect(stats).toHaveLength(4);
        // u5's records gone, its change entries and tenancy are still residue; purged, nothing is.
        await store.purgeUser('u5');
        expect((await store.placementStats()).filter((s) => s.market === 'IN')).toEqual([
          { market: 'IN', service: 'shop', users: 0, records: 0, bytes: 0, residue: 2, movedTo: { 'in-mumbai': 2 } },
        ]);
        await store.purgeTenants('shop', ['u4', 'u5']);
        expect((await store.placementStats()).some((s) => s.market === 'IN')).toBe(false);
      });

      it("counts as residue a moved user's change-log entries and keys, and counts a user's change entries", async () => {
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u2'));
        await store.putKeysIfAbsent([
          { userId: 'u1', scope: 'shop/orders', wrapped: Buffer.from('k'), wrappedBy: 'kek', createdAt: 1 },
        ]);
        await store.writeRecord(write('u1', 'o1', 'a'));
        await store.writeRecord(write('u1', 'o1', 'b'));
        await store.writeRecord(write('u2', 'o1', 'c'));
        expect(await store.countChanges('u1', 'shop')).toBe(2);
        expect(await store.countChanges('u1', 'cloud')).toBe(0);
        expect((await store.placementStats()).map((s) => s.residue)).toEqual([0]);
        await store.putTenancy({ ...home('u1', 'shop', 2), status: 'moved', movedTo: 'in-mumbai' });
        await store.purgeUser('u1', 'shop');
        await store.deleteKeys('u1');
        // Only its change entries and its tenancy are left: still residue.
        expect(await store.placementStats()).toEqual([
          { market: 'SG', service: 'shop', users: 1, records: 1, bytes: 1, residue: 1, movedTo: { 'in-mumbai': 1 } },
        ]);
      });
    });

    /** An audit append of `n` entries continuing a log of `size`, as a region's AuditLog makes one (the hashes are opaque here). */
    const append = (size: number, n: number, eventId: (i: number) => string | null = () => null): AuditAppend => ({
      entries: Array.from({ length: n }, (_, i) => ({
        seq: size + i + 1,
        eventId: eventId(i),
        type: 'test',
        entry: Buffer.from(`entry ${size + i + 1}`),
        leafHash: Buffer.alloc(32, size + i + 1),
      })),
      checkpoint: { size: size + n, root: Buffer.alloc(32, 7), at: 1_000 + size, signature: Buffer.alloc(64, 9) },
    });

    describe('the audit log', () => {
      it('appends entries with their checkpoint only where they continue the log, each event once', async () => {
        await store.appendAudit(append(0, 2, (i) => (i === 0 ? 'e-1' : null)));
        expect((await store.auditPage(0, 1)).size).toBe(2);
        await failure(store.appendAudit(append(0, 1)), 'CONFLICT');
        await failure(store.appendAudit(append(5, 1)), 'CONFLICT');
        const dup = await failure(store.appendAudit(append(2, 1, () => 'e-1')), 'CONFLICT');
        expect(dup.details).toMatchObject({ eventId: 'e-1' });
        expect((await store.auditPage(0, 1)).size).toBe(2);
        await store.appendAudit(append(2, 1));
        const all = await store.auditPage(0, 10);
        expect(all.entries.map((e) => [e.seq, e.eventId, e.entry.toString()])).toEqual([
          [1, 'e-1', 'entry 1'],
          [2, null, 'entry 2'],
          [3, null, 'entry 3'],
        ]);
        expect(all.checkpoints.map((c) => c.size)).toEqual([2, 3]);
        expect(all.size).toBe(3);
        // A full page carries the checkpoints among its entries only; the last page, every one left.
        const first = await store.auditPage(0, 2);
        expect(first.entries.map((e) => e.seq)).toEqual([1, 2]);
        expect(first.checkpoints.map((c) => c.size)).toEqual([2]);
        const rest = await store.auditPage(2, 2);
        expect(rest.entries.map((e) => e.seq)).toEqual([3]);
        expect(rest.checkpoints).toEqual([
          { size: 3, root: Buffer.alloc(32, 7), at: 1_002, signature: Buffer.alloc(64, 9) },
        ]);
        expect(await store.auditSeqOfEvent('e-1')).toBe(1);
        expect(await store.auditSeqOfEvent('nope')).toBeUndefined();
        expect((await store.lastAuditOfType('test'))?.seq).toBe(3);
      });
    });

    describe('consent decisions', () => {
      const decision = (ifVersion: number, shred: string[], size: number): ConsentWrite => ({
        userId: 'u1',
        service: 'shop',
        epoch: 1,
        collection: '_consent',
        key: 'p',
        ciphertext: Buffer.from(`ledger ${ifVersion + 1}`),
        sealedKey: sealed('p'),
        ifVersion,
        shred,
        audit: append(size, 1),
      });

      it('writes the ledger, deletes and logs what it shreds with its key, and audits, all in one transaction', async () => {
        await store.putTenancy(home('u1'));
        await store.putKeysIfAbsent([
          { userId: 'u1', scope: 'shop/cart', wrapped: Buffer.from('k'), wrappedBy: 'user-key', createdAt: 1 },
        ]);
        await store.writeRecord(write('u1', 'c1', 'in the cart', { collection: 'cart' }));
        await store.writeRecord(write('u1', 'o1', 'kept'));
        const seq = await store.lastSeq();
        const granted = await store.decideConsent(decision(0, [], 0));
        expect(granted.version).toBe(1);
        const withdrawn = await store.decideConsent(decision(1, ['cart'], 1));
        expect(withdrawn.version).toBe(2);
        expect(await store.listRecords('u1', 'shop', 'cart')).toEqual([]);
        expect(await store.getKey('u1', 'shop/cart')).toBeUndefined();
        expect((await store.getRecord('u1', 'shop', 'orders', 'o1'))?.ciphertext.toString()).toBe('kept');
        expect((await store.changesSince(seq, 10)).map((c) => [c.collection, c.key, c.op, c.sealedKey])).toEqual([
          ['_consent', 'p', 'put', sealed('p')],
          ['_consent', 'p', 'put', sealed('p')],
          ['cart', 'c1', 'delete', sealed('c1')],
        ]);
        expect((await store.auditPage(0, 1)).size).toBe(2);
      });

      it('changes nothing when the ledger moved on, the tenancy is not home, or the audit append does not continue the log', async () => {
        await store.putTenancy(home('u1'));
        await store.decideConsent(decision(0, [], 0));
        await failure(store.decideConsent(decision(0, ['cart'], 1)), 'CONFLICT');
        await failure(store.decideConsent(decision(1, [], 7)), 'CONFLICT');
        await store.putTenancy({ ...home('u1'), status: 'fenced' });
        await failure(store.decideConsent(decision(1, [], 1)), 'FENCED');
        expect((await store.getRecord('u1', 'shop', '_consent', 'p'))?.version).toBe(1);
        expect((await store.auditPage(0, 1)).size).toBe(1);
      });

      it('lets a write land only while the record it requires is at the version it was prepared under', async () => {
        await store.putTenancy(home('u1'));
        await store.decideConsent(decision(0, [], 0));
        const requires = { collection: '_consent', key: 'p', version: 1 };
        await store.writeRecord(write('u1', 'c1', 'allowed', { collection: 'cart', requires }));
        await store.decideConsent(decision(1, ['cart'], 1));
        const refused = await failure(
          store.writeRecord(write('u1', 'c2', 'too late', { collection: 'cart', requires })),
          'CONFLICT',
        );
        expect(refused.details).toMatchObject({ requires, version: 2 });
        expect(await store.listRecords('u1', 'shop', 'cart')).toEqual([]);
      });
    });

    describe('erasure', () => {
      it("deletes a user's records, keys, tenancies and change entries, audits it, and refuses them for ever after", async () => {
        await store.putTenancy(home('u1'));
        await store.putTenancy(home('u1', 'cloud'));
        await store.putTenancy(home('u2'));
        await store.putKeysIfAbsent([
          { userId: 'u1', scope: '', wrapped: Buffer.from('k'), wrappedBy: 'kek', createdAt: 1 },
        ]);
        await store.writeRecord(write('u1', 'o1', 'a'));
        await store.writeRecord(write('u2', 'o1', 'b'));
        expect(await store.isErased('u1')).toBe(false);
        expect(await store.eraseUser('u1', append(0, 2))).toEqual({ records: 1, keys: 1, tenancies: 2 });
        expect(await store.isErased('u1')).toBe(true);
        expect(await store.listTenancies()).toEqual([home('u2')]);
        expect((await store.changesSince(0, 10)).map((c) => c.userId)).toEqual(['u2']);
        expect((await store.auditPage(0, 1)).size).toBe(2);
        for (const attempt of [
          () => store.putTenancy(home('u1')),
          () => store.advanceTenancies([home('u1', 'shop', 2)]),
          () => store.importRecords([{ userId: 'u1', service: 'shop', market: 'SG', epoch: 2, puts: [], deletes: [] }]),
          () =>
            store.putKeysIfAbsent([
              { userId: 'u1', scope: '', wrapped: Buffer.from('k2'), wrappedBy: 'kek', createdAt: 2 },
            ]),
        ])
          expect((await failure(attempt(), 'CONFLICT')).details).toMatchObject({ erased: true });
      });
    });
  });
}
