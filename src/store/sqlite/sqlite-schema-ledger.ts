import type Database from 'better-sqlite3';
import { applySchemaSync, type LedgerRow, type SchemaLedger, type SchemaMigration } from '../schema-runner.js';

/**
 * A SQLite file's schema ledger (schema_migrations) for the shared runner. Each transaction is
 * BEGIN IMMEDIATE, as better-sqlite3's .immediate() transactions are: it takes the file's
 * write lock at once, so two openers are serialised by SQLite and need no lock of their own.
 */
function sqliteLedger(db: Database.Database): SchemaLedger {
  return {
    begin: () => {
      db.exec('BEGIN IMMEDIATE');
    },
    commit: () => {
      db.exec('COMMIT');
    },
    rollback: () => {
      // SQLite may have rolled back already (some errors end the transaction themselves).
      if (db.inTransaction) db.exec('ROLLBACK');
    },
    createLedger: () => {
      db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL, sha256 TEXT)',
      );
    },
    hasChecksums: () =>
      db
        .prepare('SELECT * FROM schema_migrations LIMIT 0')
        .columns()
        .some((c) => c.name === 'sha256'),
    addChecksums: () => {
      db.exec('ALTER TABLE schema_migrations ADD COLUMN sha256 TEXT');
    },
    readLedger: () => db.prepare<[], LedgerRow>('SELECT id, name, sha256 FROM schema_migrations ORDER BY id').all(),
    setChecksum: (id, sha256) => {
      db.prepare('UPDATE schema_migrations SET sha256 = ? WHERE id = ?').run(sha256, id);
    },
    run: (sql) => {
      db.exec(sql);
    },
    record: (migration, sha256, at) => {
      db.prepare('INSERT INTO schema_migrations (id, name, applied_at, sha256) VALUES (?, ?, ?, ?)').run(
        migration.id,
        migration.name,
        at,
        sha256,
      );
    },
  };
}

/**
 * Brings a SQLite file's schema up to `migrations` (see applySchemaSync): checks the applied
 * ones, runs the others each in a transaction of its own, and answers their ids. `where` names
 * the file in refusals.
 */
export function applyMigrations(
  db: Database.Database,
  where: string,
  migrations: readonly SchemaMigration[],
): number[] {
  return applySchemaSync(sqliteLedger(db), where, migrations);
}
