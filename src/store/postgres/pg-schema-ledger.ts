import type pg from 'pg';
import { DomicileError } from '../../errors/domicile-error.js';
import { applySchemaAsync, type LedgerRow, type SchemaLedger, type SchemaMigration } from '../schema-runner.js';
import { withPgClient } from './pg-pool.js';

/** Serialises schema changes between processes (several node processes of one region may start at once). */
const migrationLock = 0x646f6d31;

/**
 * A PostgreSQL schema ledger for the shared runner, on one connection: the runner holds the
 * session advisory lock from its first look at the ledger to its last migration, so processes
 * that start together apply (or upgrade) each migration once.
 */
function pgLedger(client: pg.PoolClient, table: string): SchemaLedger {
  const query = async (sql: string, params: unknown[] = []): Promise<void> => {
    await client.query(sql, params);
  };
  return {
    lock: () => query('SELECT pg_advisory_lock($1)', [migrationLock]),
    unlock: () => query('SELECT pg_advisory_unlock($1)', [migrationLock]),
    begin: () => query('BEGIN'),
    commit: () => query('COMMIT'),
    rollback: () => query('ROLLBACK'),
    createLedger: () =>
      query(
        `CREATE TABLE IF NOT EXISTS ${table} (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL, sha256 text)`,
      ),
    hasChecksums: async () =>
      (await client.query(`SELECT * FROM ${table} LIMIT 0`)).fields.some((f) => f.name === 'sha256'),
    addChecksums: () => query(`ALTER TABLE ${table} ADD COLUMN sha256 text`),
    readLedger: async () => (await client.query<LedgerRow>(`SELECT id, name, sha256 FROM ${table} ORDER BY id`)).rows,
    setChecksum: (id, sha256) => query(`UPDATE ${table} SET sha256 = $1 WHERE id = $2`, [sha256, id]),
    run: (sql) => query(sql),
    record: (migration, sha256, at) =>
      query(`INSERT INTO ${table} (id, name, applied_at, sha256) VALUES ($1, $2, $3, $4)`, [
        migration.id,
        migration.name,
        at,
        sha256,
      ]),
  };
}

/**
 * Brings a PostgreSQL schema up to `migrations` (see applySchemaAsync) under the advisory lock.
 * `ledger` names the ledger's table: a component that may share a database with another (the
 * coordinator's state beside the directory) keeps a ledger of its own.
 */
export function applyPgMigrations(
  pool: pg.Pool,
  where: string,
  migrations: readonly SchemaMigration[],
  ledger = 'schema_migrations',
): Promise<number[]> {
  return withPgClient(pool, (client) => applySchemaAsync(pgLedger(client, ledger), where, migrations));
}

/**
 * Opens a component that keeps its own tables in a shared PostgreSQL database (the coordinator's
 * state, the flash sales' ledger, the data subject requests): its migrations under its own
 * ledger, then whatever it loads at start. On any failure the component is closed again, and a
 * failure that is not already a DomicileError (the database is down, say) is UNAVAILABLE, naming it.
 */
export async function openPgComponent<T extends { close(): Promise<void> }>(
  component: T,
  options: {
    pool: pg.Pool;
    /** What it is and where, for messages: "the flash sales' ledger at 127.0.0.1:5432/test". */
    what: string;
    migrations: readonly SchemaMigration[];
    ledger: string;
    ready?: () => Promise<void>;
  },
): Promise<T> {
  try {
    await applyPgMigrations(options.pool, options.what, options.migrations, options.ledger);
    await options.ready?.();
    return component;
  } catch (err) {
    await component.close();
    if (err instanceof DomicileError) throw err;
    throw new DomicileError('UNAVAILABLE', `cannot open ${options.what}: ${(err as Error).message}`, { cause: err });
  }
}
