import type pg from 'pg';
import { DomicileError } from '../../errors/domicile-error.js';
import { withPgClient } from './pg-pool.js';

export interface PgMigration {
  id: number;
  name: string;
  sql: string;
}

/**
 * The PostgreSQL store's schema, as append-only migrations recorded in a ledger, with the same
 * ids and names as the SQLite store's so that a region's schema is one history whatever its
 * backend. Never edit one that has shipped: add the next.
 */
export const postgresMigrations: readonly PgMigration[] = [
  {
    id: 1,
    name: 'tenancies, keys, records, change log',
    sql: `
      CREATE TABLE tenancies (
        user_id text NOT NULL,
        service text NOT NULL,
        market text NOT NULL,
        epoch bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('home', 'fenced', 'moved', 'incoming')),
        moved_to text,
        PRIMARY KEY (user_id, service)
      );
      CREATE INDEX tenancies_service ON tenancies (service);
      CREATE TABLE keys (
        user_id text NOT NULL,
        scope text NOT NULL,
        wrapped bytea NOT NULL,
        wrapped_by text NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (user_id, scope)
      );
      CREATE TABLE records (
        user_id text NOT NULL,
        service text NOT NULL,
        collection text NOT NULL,
        key text NOT NULL,
        version bigint NOT NULL,
        ciphertext bytea NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (user_id, service, collection, key)
      );
      -- On a sequence; appends are serialised (an advisory lock held to commit), so seq order
      -- is commit order and a reader that resumes after lastSeq never misses a change.
      CREATE TABLE changes (
        seq bigserial PRIMARY KEY,
        user_id text NOT NULL,
        service text NOT NULL,
        collection text NOT NULL,
        key text NOT NULL,
        op text NOT NULL CHECK (op IN ('put', 'delete')),
        version bigint NOT NULL,
        at bigint NOT NULL
      );
      CREATE INDEX changes_service ON changes (service, seq);
    `,
  },
  {
    id: 2,
    name: 'audit log: entries and signed checkpoints',
    sql: `
      CREATE TABLE audit_entries (
        seq bigint PRIMARY KEY,
        event_id text UNIQUE,
        type text NOT NULL,
        entry bytea NOT NULL,
        leaf_hash bytea NOT NULL
      );
      CREATE INDEX audit_entries_type ON audit_entries (type, seq);
      CREATE TABLE audit_checkpoints (
        size bigint PRIMARY KEY,
        root bytea NOT NULL,
        at bigint NOT NULL,
        signature bytea NOT NULL
      );
    `,
  },
  {
    id: 3,
    name: 'erased users',
    sql: `
      CREATE TABLE erased_users (
        user_id text PRIMARY KEY,
        at bigint NOT NULL
      );
    `,
  },
  {
    id: 4,
    name: 'change log by user',
    sql: `
      CREATE INDEX changes_user ON changes (user_id);
    `,
  },
  {
    id: 5,
    name: 'record keys sealed beside their keyed hash',
    sql: `
      -- See the SQLite store's migration 5: key holds the keyId, sealed_key the client's key sealed.
      ALTER TABLE records ADD COLUMN sealed_key bytea;
      ALTER TABLE changes ADD COLUMN sealed_key bytea;
    `,
  },
];

/** Serialises schema changes between processes (several node processes of one region may start at once). */
const migrationLock = 0x646f6d31;

/**
 * Applies the migrations not in the ledger, under an advisory lock, each in its own transaction.
 * `ledger` names the ledger's table: a component that may share a database with another (the
 * coordinator's state beside the directory) keeps a ledger of its own.
 */
export function applyPgMigrations(pool: pg.Pool, where: string, migrations: readonly PgMigration[] = postgresMigrations, ledger = 'schema_migrations'): Promise<number[]> {
  return withPgClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [migrationLock]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS ${ledger} (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      const rows = (await client.query<{ id: number; name: string }>(`SELECT id, name FROM ${ledger} ORDER BY id`)).rows;
      const known = new Map(migrations.map((m) => [m.id, m]));
      for (const row of rows) {
        const migration = known.get(row.id);
        if (!migration) throw new DomicileError('INTERNAL', `the store ${where} has schema migration ${row.id} ("${row.name}"), which this version of Domicile does not know: run a newer version`);
        if (migration.name !== row.name) throw new DomicileError('INTERNAL', `the store ${where} applied schema migration ${row.id} as "${row.name}", but this version calls it "${migration.name}": migrations are append-only`);
      }
      const applied = new Set(rows.map((r) => r.id));
      const ran: number[] = [];
      for (const m of migrations) {
        if (applied.has(m.id)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(`INSERT INTO ${ledger} (id, name, applied_at) VALUES ($1, $2, $3)`, [m.id, m.name, Date.now()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        }
        ran.push(m.id);
      }
      return ran;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [migrationLock]);
    }
  });
}
