import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openPgPool } from '../../src/store/postgres/pg-pool.js';
import { applyPgMigrations } from '../../src/store/postgres/pg-schema-ledger.js';
import type { SchemaMigration } from '../../src/store/schema-runner.js';
import { applyMigrations } from '../../src/store/sqlite/sqlite-schema-ledger.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The schema runner every store opens with (region stores, directories, the coordinator's
 * state, the DSAR and flash-sale files), on both backends: the same ledger, the same checks.
 */

const first: SchemaMigration = { id: 1, name: 'first', sql: 'CREATE TABLE a (x integer)' };
const second: SchemaMigration = { id: 2, name: 'second', sql: 'CREATE TABLE b (y integer)' };
const third: SchemaMigration = { id: 3, name: 'third', sql: 'CREATE INDEX b_y ON b (y)' };

/** The ledger as the versions before checksums created it (the SQL is the same in both backends' words). */
const ledgerBeforeChecksums =
  'CREATE TABLE schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)';

const sha256 = (sql: string): string => createHash('sha256').update(sql).digest('hex');

interface LedgerRow {
  id: number;
  name: string;
  applied_at: number;
  sha256?: string | null;
}

/** One store's database, opened as a store opens it (`open`), and read or altered behind its back (`sql`, `ledger`). */
interface Subject {
  open(migrations: readonly SchemaMigration[]): Promise<number[]>;
  sql(text: string): Promise<void>;
  ledger(): Promise<LedgerRow[]>;
  tables(): Promise<string[]>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
afterAll(async () => {
  await admin.end();
});
let counter = 0;

const backends: Array<[string, () => Promise<Subject>]> = [
  [
    'sqlite',
    async () => {
      const d = tempDir('schema-runner');
      const file = join(d.path, 'store.db');
      const db = new Database(file);
      cleanups.push(
        () => d.remove(),
        () => {
          db.close();
        },
      );
      return {
        open: async (migrations) => applyMigrations(db, file, migrations),
        sql: async (text) => {
          db.exec(text);
        },
        ledger: async () => db.prepare<[], LedgerRow>('SELECT * FROM schema_migrations ORDER BY id').all(),
        tables: async () =>
          db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all(),
      };
    },
  ],
  [
    'postgres',
    async () => {
      const schema = `runner_${process.pid}_${Date.now().toString(36)}_${++counter}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      const pool = openPgPool({ url: testPostgresUrl, schema, size: 4, what: 'a test store' });
      cleanups.push(
        () => admin.query(`DROP SCHEMA ${schema} CASCADE`).then(() => undefined),
        () => pool.end(),
      );
      return {
        open: (migrations) => applyPgMigrations(pool, `test schema ${schema}`, migrations),
        sql: async (text) => {
          await pool.query(text);
        },
        ledger: async () => (await pool.query<LedgerRow>('SELECT * FROM schema_migrations ORDER BY id')).rows,
        tables: async () =>
          (
            await admin.query<{ t: string }>('SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1', [
              schema,
            ])
          ).rows.map((r) => r.t),
      };
    },
  ],
];

describe.each(backends)('schema runner (%s)', (_name, subject) => {
  it('records each migration with the SHA-256 of its SQL, and reopening changes nothing', async () => {
    const store = await subject();
    expect(await store.open([first, second])).toEqual([1, 2]);
    const ledger = await store.ledger();
    expect(ledger.map(({ id, name, sha256: sum }) => ({ id, name, sum }))).toEqual([
      { id: 1, name: 'first', sum: sha256(first.sql) },
      { id: 2, name: 'second', sum: sha256(second.sql) },
    ]);
    expect(await store.open([first, second])).toEqual([]);
    expect(await store.ledger()).toEqual(ledger);
    expect(await store.open([first, second, third])).toEqual([3]);
    expect(await store.open([first, second, third])).toEqual([]);
    expect((await store.ledger()).map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it('refuses a store whose applied migration was edited, naming it and saying what to do, and runs nothing', async () => {
    const store = await subject();
    await store.open([first, second]);
    const edited = { ...second, sql: 'CREATE TABLE b (y integer, z integer)' };
    const refusal = store.open([first, edited, third]);
    await expect(refusal).rejects.toMatchObject({ name: 'DomicileError', code: 'INTERNAL' });
    await expect(refusal).rejects.toThrow(/schema migration 2 \("second"\).*edited.*new migration/);
    // Nothing ran: migration 3 waits for a build that agrees with the store.
    expect((await store.ledger()).map((r) => r.id)).toEqual([1, 2]);
    expect(await store.tables()).toEqual(['a', 'b', 'schema_migrations']);
  });

  it('does not count re-indenting a migration as an edit', async () => {
    const store = await subject();
    const indented = { id: 1, name: 'first', sql: '\n      CREATE TABLE a (\n        x integer\n      );\n    ' };
    await store.open([indented]);
    expect(await store.open([{ ...indented, sql: '\n  CREATE TABLE a (\n    x integer\n  );\n' }])).toEqual([]);
    await expect(store.open([{ ...indented, sql: '\n  CREATE TABLE a (\n    x bigint\n  );\n' }])).rejects.toThrow(
      /migration 1 \("first"\)/,
    );
  });

  it('upgrades a ledger of the format before checksums in place, recording what is applied, and opens', async () => {
    const store = await subject();
    await store.sql(ledgerBeforeChecksums);
    await store.sql(first.sql);
    await store.sql("INSERT INTO schema_migrations (id, name, applied_at) VALUES (1, 'first', 1000)");
    expect(await store.open([first, second])).toEqual([2]);
    expect((await store.ledger()).map(({ id, applied_at: at, sha256: sum }) => ({ id, at, sum }))).toEqual([
      { id: 1, at: 1000, sum: sha256(first.sql) },
      { id: 2, at: expect.any(Number), sum: sha256(second.sql) },
    ]);
    expect(await store.open([first, second])).toEqual([]);
    // From now on an edit of what was applied before the upgrade is noticed too.
    await expect(store.open([{ ...first, sql: 'CREATE TABLE a (x text)' }, second])).rejects.toThrow(
      /migration 1 \("first"\)/,
    );
  });

  it('still refuses a ledger naming a migration this version does not know, and leaves it as it was', async () => {
    const store = await subject();
    await store.sql(ledgerBeforeChecksums);
    await store.sql(first.sql);
    await store.sql(
      "INSERT INTO schema_migrations (id, name, applied_at) VALUES (1, 'first', 1000), (999, 'from the future', 2000)",
    );
    await expect(store.open([first, second])).rejects.toThrow(/migration 999 \("from the future"\).*newer version/);
    // Not upgraded: the refusal rolled the ledger's transaction back.
    expect(await store.ledger()).toEqual([
      { id: 1, name: 'first', applied_at: 1000 },
      { id: 999, name: 'from the future', applied_at: 2000 },
    ]);
    expect(await store.tables()).toEqual(['a', 'schema_migrations']);
  });

  it('still refuses a migration applied under another name', async () => {
    const store = await subject();
    await store.open([first]);
    await expect(store.open([{ ...first, name: 'renamed' }])).rejects.toThrow(
      /migration 1 as "first", but this version calls it "renamed"/,
    );
  });

  it('applies each migration in a transaction of its own: a failing one leaves the ones before it applied and itself not', async () => {
    const store = await subject();
    const failing = { id: 2, name: 'half done', sql: 'CREATE TABLE c (x integer); CREATE TABLE a (x integer)' };
    await expect(store.open([first, failing])).rejects.toThrow(/already exists/);
    expect((await store.ledger()).map((r) => r.id)).toEqual([1]);
    expect(await store.tables()).toEqual(['a', 'schema_migrations']);
  });
});

describe('schema runner (postgres, several processes)', () => {
  it('upgrades a ledger before checksums once when several processes open it at once', async () => {
    const schema = `runner_${process.pid}_${Date.now().toString(36)}_${++counter}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    cleanups.push(() => admin.query(`DROP SCHEMA ${schema} CASCADE`).then(() => undefined));
    await admin.query(
      `SET search_path = ${schema}; ${ledgerBeforeChecksums}; ${first.sql}; INSERT INTO schema_migrations VALUES (1, 'first', 1000); RESET search_path`,
    );
    const pools = Array.from({ length: 4 }, () =>
      openPgPool({ url: testPostgresUrl, schema, size: 1, what: 'a test store' }),
    );
    cleanups.push(() => Promise.all(pools.map((p) => p.end())).then(() => undefined));
    const ran = await Promise.all(
      pools.map((pool) => applyPgMigrations(pool, `test schema ${schema}`, [first, second])),
    );
    expect(ran.flat()).toEqual([2]);
    const ledger = await admin.query(`SELECT id, sha256 FROM ${schema}.schema_migrations ORDER BY id`);
    expect(ledger.rows).toEqual([
      { id: 1, sha256: sha256(first.sql) },
      { id: 2, sha256: sha256(second.sql) },
    ]);
  });
});
