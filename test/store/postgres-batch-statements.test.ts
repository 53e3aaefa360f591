import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRegionStore } from '../../src/store/postgres/postgres-region-store.js';
import type { RecordImport, TenancyStatus } from '../../src/store/region-store.js';
import { testPostgresUrl } from '../support/postgres.js';

/**
 * A migration's batch costs the PostgreSQL store a small constant number of statements (round
 * trips), whatever the batch holds: counted by the store's own meter on a batch of 2 users
 * and one of 40, which must cost the same.
 */
const schemas: string[] = [];
const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
let counter = 0;

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function freshStore(): Promise<PostgresRegionStore> {
  const schema = `rsb_${process.pid}_${Date.now().toString(36)}_${++counter}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  const store = new PostgresRegionStore({ url: testPostgresUrl, schema });
  await store.init();
  return store;
}

function users(n: number, prefix: string): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
}

function imports(userIds: readonly string[], version = 1): RecordImport[] {
  return userIds.map((userId) => ({
    userId,
    service: 'shop',
    market: 'SG',
    epoch: 1,
    deletes: [{ collection: 'orders', key: 'gone' }],
    puts: Array.from({ length: 5 }, (_, i) => ({
      collection: 'orders',
      key: `k${i}`,
      version,
      ciphertext: Buffer.from(`${userId}:${i}:${version}`),
      updatedAt: 1,
      sealedKey: Buffer.from('sk'),
    })),
  }));
}

async function statements(store: PostgresRegionStore, fn: () => Promise<unknown>): Promise<number> {
  const before = store.meter.read().total.statements;
  await fn();
  return store.meter.read().total.statements - before;
}

/** A batch of 40 users costs the statements of a batch of 2, and no more than `most`. */
async function expectConstant(
  store: PostgresRegionStore,
  small: () => Promise<unknown>,
  large: () => Promise<unknown>,
  most: number,
): Promise<void> {
  const forSmall = await statements(store, small);
  const forLarge = await statements(store, large);
  expect(forLarge).toBe(forSmall);
  expect(forSmall).toBeLessThanOrEqual(most);
}

async function setStatus(
  store: PostgresRegionStore,
  userIds: readonly string[],
  status: TenancyStatus,
  epoch: number,
): Promise<void> {
  await store.advanceTenancies(
    userIds.map((userId) => ({
      userId,
      service: 'shop',
      market: 'SG',
      epoch,
      status,
      movedTo: status === 'moved' ? 'sg-singapore' : null,
    })),
  );
}

describe('PostgreSQL store: statements per batch, not per user', () => {
  it('imports a batch (a copy into incoming tenancies) in as many statements for 40 users as for 2', async () => {
    const store = await freshStore();
    await expectConstant(
      store,
      () => store.importRecords(imports(users(2, 'a'))),
      () => store.importRecords(imports(users(40, 'b'))),
      12,
    );
    expect((await store.listRecords('b039', 'shop')).map((r) => r.key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    await store.close();
  });

  it('imports a logged batch (reverse replication into a fenced source) in as many statements for 40 users as for 2, each change logged once', async () => {
    const store = await freshStore();
    const a = users(2, 'a');
    const b = users(40, 'b');
    await store.importRecords(imports([...a, ...b]));
    await setStatus(store, [...a, ...b], 'fenced', 2);
    await expectConstant(
      store,
      () => store.importRecords(imports(a, 2)),
      () => store.importRecords(imports(b, 2)),
      12,
    );
    expect(await store.countChanges('b007', 'shop')).toBe(5);
    await store.close();
  });

  it('purges a batch in as many statements for 40 users as for 2', async () => {
    const store = await freshStore();
    const a = users(2, 'a');
    const b = users(40, 'b');
    await store.importRecords(imports([...a, ...b]));
    await setStatus(store, [...a, ...b], 'moved', 2);
    await expectConstant(
      store,
      () => store.purgeTenants('shop', a),
      () => store.purgeTenants('shop', b),
      12,
    );
    expect(await store.listRecords('b039', 'shop')).toEqual([]);
    expect(await store.getTenancy('b039', 'shop')).toBeUndefined();
    await store.close();
  });

  it('exports (and so digests) a batch in as many statements for 40 users as for 2', async () => {
    const store = await freshStore();
    const a = users(2, 'a');
    const b = users(40, 'b');
    await store.importRecords(imports([...a, ...b]));
    await expectConstant(
      store,
      () => store.exportTenants('shop', a),
      () => store.exportTenants('shop', b),
      3,
    );
    const exported = await store.exportTenants('shop', b);
    expect(exported.map((t) => t.records.length)).toEqual(b.map(() => 5));
    await store.close();
  });

  it('stores a batch of keys in as many statements for 40 users as for 2', async () => {
    const store = await freshStore();
    const keys = (ids: string[]) =>
      ids.flatMap((userId) =>
        ['', 'shop/orders'].map((scope) => ({
          userId,
          scope,
          wrapped: Buffer.from(`${userId}${scope}`),
          wrappedBy: 'kek',
          createdAt: 1,
        })),
      );
    await expectConstant(
      store,
      () => store.putKeysIfAbsent(keys(users(2, 'a'))),
      () => store.putKeysIfAbsent(keys(users(40, 'b'))),
      8,
    );
    // Kept as they were: the first key stored wins, and is what is returned.
    const again = await store.putKeysIfAbsent([
      { userId: 'b007', scope: '', wrapped: Buffer.from('other'), wrappedBy: 'kek', createdAt: 2 },
      ...keys(['c1']),
    ]);
    expect(again.map((k) => [k.userId, k.scope, k.wrapped.toString()])).toEqual([
      ['b007', '', 'b007'],
      ['c1', '', 'c1'],
      ['c1', 'shop/orders', 'c1shop/orders'],
    ]);
    await store.close();
  });

  it('reads a batch of tenancies and erasures in as many statements for 40 users as for 2', async () => {
    const store = await freshStore();
    await store.importRecords(imports([...users(2, 'a'), ...users(40, 'b')]));
    await expectConstant(
      store,
      () => store.tenantsOf('shop', users(2, 'a')),
      () => store.tenantsOf('shop', users(40, 'b')),
      1,
    );
    await store.close();
  });

  it('changes a batch of tenancies in as many statements for 40 users as for 2', async () => {
    const store = await freshStore();
    const a = users(2, 'a');
    const b = users(40, 'b');
    await store.importRecords(imports([...a, ...b]));
    await expectConstant(
      store,
      () => setStatus(store, a, 'home', 1),
      () => setStatus(store, b, 'home', 1),
      8,
    );
    await store.close();
  });
});
