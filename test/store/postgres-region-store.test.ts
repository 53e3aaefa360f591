import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRegionStore } from '../../src/store/postgres/postgres-region-store.js';
import { describeRegionStoreConformance } from './region-store-conformance.js';
import { testPostgresUrl } from '../support/postgres.js';

/**
 * The same conformance suite against PostgreSQL (the local server CI starts; DOMICILE_TEST_PG
 * names another). Each store gets a schema of its own in the test database, dropped at the end.
 * A server that cannot be reached fails these tests: it never skips them.
 */
const schemas: string[] = [];
const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
let counter = 0;

async function freshSchema(): Promise<string> {
  const schema = `rs_${process.pid}_${Date.now().toString(36)}_${++counter}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describeRegionStoreConformance('postgres', async () => new PostgresRegionStore({ url: testPostgresUrl, schema: await freshSchema() }));

describe('PostgresRegionStore specifics', () => {
  it('applies its schema once under a lock, however many processes start together', async () => {
    const schema = await freshSchema();
    const stores = Array.from({ length: 4 }, () => new PostgresRegionStore({ url: testPostgresUrl, schema }));
    await Promise.all(stores.map((s) => s.init()));
    const ledger = await admin.query(`SELECT id, name FROM ${schema}.schema_migrations ORDER BY id`);
    expect(ledger.rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('keeps the change log in commit order under concurrent writers, so a tailing reader misses nothing', async () => {
    const store = new PostgresRegionStore({ url: testPostgresUrl, schema: await freshSchema(), poolSize: 8 });
    await store.init();
    for (let u = 0; u < 8; u++) await store.putTenancy({ userId: `u${u}`, service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    const seen: number[] = [];
    let after = 0;
    let writing = true;
    const reader = (async () => {
      while (writing || after < (await store.lastSeq())) {
        const before = await store.lastSeq();
        const page = await store.changesSince(after, 1_000);
        seen.push(...page.map((c) => c.seq));
        after = page.length > 0 ? page.at(-1)!.seq : Math.max(after, before);
      }
    })();
    await Promise.all(Array.from({ length: 8 }, async (_, u) => {
      for (let i = 0; i < 25; i++) await store.writeRecord({ userId: `u${u}`, service: 'shop', collection: 'orders', key: `k${i % 5}`, epoch: 1, ciphertext: Buffer.from(`${u}:${i}`) });
    }));
    writing = false;
    await reader;
    const all = (await store.changesSince(0, 10_000)).map((c) => c.seq);
    expect(all).toHaveLength(200);
    expect([...new Set(seen)].sort((a, b) => a - b)).toEqual(all);
    await store.close();
  });

  it('reports a server it cannot reach as UNAVAILABLE, naming it', async () => {
    const store = new PostgresRegionStore({ url: 'postgres://postgres@127.0.0.1:1/nowhere' });
    await expect(store.init()).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1/nowhere') });
    await store.close();
  });
});
