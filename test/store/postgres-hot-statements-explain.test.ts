import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRegionStore } from '../../src/store/postgres/postgres-region-store.js';
import type { AuditAppend, RecordImport } from '../../src/store/region-store.js';
import { testPostgresUrl } from '../support/postgres.js';

/**
 * Every statement the PostgreSQL store sends on its hot paths (the request path's reads and
 * writes, a migration's export, import, catch-up, tenancy changes and purge, a tailing reader's
 * change log), heard as the store sends them, is EXPLAINed with its own parameters against
 * tables of 30,000 rows (analysed): none may scan a large table sequentially. The statements
 * are not listed by hand, so a new hot statement is checked too.
 */
const schema = `rsx_${process.pid}_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

/** Tables holding at least this many rows are large: a sequential scan of one fails the test. */
const large = 1_000;
const users = 3_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode): string[] {
  const own = node['Node Type'] === 'Seq Scan' && node['Relation Name'] ? [node['Relation Name']] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

/** Statements without a table or that only take a lock: nothing to plan. */
function planless(text: string): boolean {
  return (
    /^\s*(BEGIN|COMMIT|ROLLBACK|SET\b)/i.test(text) ||
    /^\s*SELECT pg_advisory|^\s*SELECT coalesce\(pg_sequence_last_value/i.test(text) ||
    /schema_migrations|pg_advisory_lock|pg_advisory_unlock/i.test(text)
  );
}

describe('PostgreSQL store: hot statements use indexes', () => {
  it('EXPLAINs every statement of the hot paths against large tables and finds no sequential scan of one', async () => {
    await admin.query(`CREATE SCHEMA ${schema}`);
    const store = new PostgresRegionStore({ url: testPostgresUrl, schema });
    await store.init();
    // Large tables: users × 10 records, 10 change entries and a key each, tenancies of two services.
    await admin.query(`SET search_path = ${schema}`);
    const c = await admin.connect();
    try {
      await c.query(`SET search_path = ${schema}`);
      await c.query(
        `INSERT INTO tenancies SELECT 'v' || u, s, 'SG', 1, 'home', NULL FROM generate_series(1, ${users}) u, unnest(ARRAY['shop', 'cloud']) s`,
      );
      await c.query(
        `INSERT INTO keys SELECT 'v' || u, s, '\\x00', 'kek', 1 FROM generate_series(1, ${users}) u, unnest(ARRAY['', 'shop/orders']) s`,
      );
      await c.query(
        `INSERT INTO records SELECT 'v' || u, 'shop', 'orders', 'k' || r, 1, '\\x00', 1, '\\x00' FROM generate_series(1, ${users}) u, generate_series(1, 10) r`,
      );
      await c.query(
        `INSERT INTO changes (user_id, service, collection, key, op, version, at, sealed_key) SELECT 'v' || u, 'shop', 'orders', 'k' || r, 'put', 1, 1, '\\x00' FROM generate_series(1, ${users}) u, generate_series(1, 10) r`,
      );
      await c.query(
        `INSERT INTO audit_entries SELECT n, NULL, 'transfer', '\\x00', '\\x00' FROM generate_series(1, ${users}) n`,
      );
      await c.query(`INSERT INTO audit_checkpoints SELECT n, '\\x00', 1, '\\x00' FROM generate_series(1, ${users}) n`);
      await c.query(`INSERT INTO erased_users SELECT 'e' || n, 1 FROM generate_series(1, ${users}) n`);
      await c.query('ANALYZE');
    } finally {
      c.release();
    }

    const heard = new Map<string, readonly unknown[]>();
    store.meter.listen((text, values) => {
      if (!planless(text) && !heard.has(text)) heard.set(text, values);
    });
    const append = (size: number): AuditAppend => ({
      entries: [
        { seq: size + 1, eventId: null, type: 'key-shred', entry: Buffer.from('e'), leafHash: Buffer.from('h') },
      ],
      checkpoint: { size: size + 1, root: Buffer.from('r'), at: 1, signature: Buffer.from('s') },
    });
    const batch = (ids: string[], version: number): RecordImport[] =>
      ids.map((userId) => ({
        userId,
        service: 'shop',
        market: 'SG',
        epoch: 1,
        deletes: [{ collection: 'orders', key: 'k9' }],
        puts: [
          {
            collection: 'orders',
            key: 'k1',
            version,
            ciphertext: Buffer.from(`v${version}`),
            updatedAt: 1,
            sealedKey: Buffer.from('s'),
          },
        ],
      }));

    // The request path.
    await store.readRecord({ userId: 'v1', service: 'shop', collection: 'orders', key: 'k1', epoch: 1 });
    // Reads and writes that arrive together share one statement: a batch of each.
    await Promise.all(
      ['v2', 'v3', 'v4', 'v5', 'v6'].map((userId) =>
        store.readRecord({ userId, service: 'shop', collection: 'orders', key: 'k1', epoch: 1 }),
      ),
    );
    await Promise.all(
      ['v2', 'v3', 'v4', 'v5', 'v6'].map((userId) =>
        store.writeRecord({
          userId,
          service: 'shop',
          collection: 'orders',
          key: 'k4',
          epoch: 1,
          ciphertext: Buffer.from('x'),
          sealedKey: Buffer.from('s'),
        }),
      ),
    );
    await store.getRecord('v1', 'shop', 'orders', 'k1');
    await store.getTenancy('v1', 'shop');
    await store.getKey('v1', '');
    await store.writeRecord({
      userId: 'v1',
      service: 'shop',
      collection: 'orders',
      key: 'k2',
      epoch: 1,
      ciphertext: Buffer.from('x'),
      sealedKey: Buffer.from('s'),
    });
    await store.deleteRecord({ userId: 'v1', service: 'shop', collection: 'orders', key: 'k3', epoch: 1 });
    await store.listRecords('v1', 'shop', 'orders', { limit: 5 });
    await store.listRecords('v1', 'shop', 'orders');
    await store.isErased('v1');
    await store.putKeysIfAbsent([
      { userId: 'v2', scope: 'shop/orders', wrapped: Buffer.from('k'), wrappedBy: 'kek', createdAt: 1 },
    ]);
    // A migration: export, digest, a fresh copy (incoming), the fence, reverse stream (logged), flip, purge.
    await store.exportTenants('shop', ['v3', 'v4', 'v5']);
    await store.importRecords(batch(['n1', 'n2'], 1));
    await store.advanceTenancies(
      ['v6', 'v7'].map((userId) => ({
        userId,
        service: 'shop',
        market: 'SG',
        epoch: 2,
        status: 'fenced',
        movedTo: null,
      })),
    );
    await store.importRecords(batch(['v6', 'v7'], 5));
    await store.advanceTenancies(
      ['v6', 'v7'].map((userId) => ({
        userId,
        service: 'shop',
        market: 'SG',
        epoch: 3,
        status: 'moved',
        movedTo: 'sg-singapore',
      })),
    );
    await store.purgeTenants('shop', ['v6', 'v7'], append(users));
    // A tailing reader.
    await store.changesSince(users * 5, 100);
    await store.changesSince(users * 5, 100, 'shop');
    await store.changesSince(0, 100, 'shop', 'v8');
    await store.countChanges('v8', 'shop');
    await store.lastSeq();
    await store.auditSeqOfEvent('nope');
    await store.lastAuditOfType('transfer');

    const sizes = new Map(
      (
        await admin.query<{ relname: string; n: number }>(
          `SELECT c.relname, c.reltuples::bigint AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind = 'r'`,
          [schema],
        )
      ).rows.map((r) => [r.relname, Number(r.n)]),
    );
    expect(sizes.get('records')).toBeGreaterThanOrEqual(large);
    expect(heard.size).toBeGreaterThan(20);
    const scans: string[] = [];
    const e = await admin.connect();
    try {
      await e.query(`SET search_path = ${schema}`);
      for (const [text, values] of heard) {
        const plan = (
          await e.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${text}`, [...values])
        ).rows[0]!['QUERY PLAN'][0]!.Plan;
        for (const table of seqScans(plan))
          if ((sizes.get(table) ?? 0) >= large) scans.push(`${table}: ${text.replace(/\s+/g, ' ').slice(0, 160)}`);
      }
    } finally {
      e.release();
    }
    expect(scans).toEqual([]);
    await store.close();
  });
});
