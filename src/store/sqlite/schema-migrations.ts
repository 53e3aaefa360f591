import type { SchemaMigration } from '../schema-runner.js';

/**
 * The region store's schema, as append-only migrations: a change is a new entry at the end,
 * never an edit of an applied one. The ledger (schema_migrations) records what ran and the
 * SHA-256 of its SQL, and a ledger that disagrees with this list (an edited entry, or a file
 * written by newer software) stops the store from opening rather than letting it guess (see
 * schema-runner.ts).
 */
export const regionStoreMigrations: readonly SchemaMigration[] = [
  {
    id: 1,
    name: 'tenancies, keys, records, change log',
    sql: `
      CREATE TABLE tenancies (
        user_id TEXT NOT NULL,
        service TEXT NOT NULL,
        market TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('home', 'fenced', 'moved', 'incoming')),
        moved_to TEXT,
        PRIMARY KEY (user_id, service)
      ) WITHOUT ROWID;
      CREATE INDEX tenancies_service ON tenancies (service);

      CREATE TABLE keys (
        user_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        wrapped_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, scope)
      ) WITHOUT ROWID;

      -- A rowid table: ciphertexts may be large, which WITHOUT ROWID tables handle poorly.
      CREATE TABLE records (
        user_id TEXT NOT NULL,
        service TEXT NOT NULL,
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        ciphertext BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, service, collection, key)
      );

      -- AUTOINCREMENT: a seq is never reused, so a tailing reader can never miss a change.
      CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        service TEXT NOT NULL,
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
        version INTEGER NOT NULL,
        at INTEGER NOT NULL
      );
    `,
  },
  {
    id: 2,
    name: 'audit log: entries and signed checkpoints',
    sql: `
      -- The region's Merkle log (RFC 6962). seq is the leaf's position plus one; event_id makes
      -- recording an event twice (a retried step) record it once.
      CREATE TABLE audit_entries (
        seq INTEGER PRIMARY KEY,
        event_id TEXT UNIQUE,
        type TEXT NOT NULL,
        entry BLOB NOT NULL,
        leaf_hash BLOB NOT NULL
      );
      CREATE INDEX audit_entries_type ON audit_entries (type, seq);
      CREATE TABLE audit_checkpoints (
        size INTEGER PRIMARY KEY,
        root BLOB NOT NULL,
        at INTEGER NOT NULL,
        signature BLOB NOT NULL
      );
    `,
  },
  {
    id: 3,
    name: 'erased users',
    sql: `
      -- Users erased here: nothing of theirs may rest here again (a copy in flight, a late import).
      CREATE TABLE erased_users (
        user_id TEXT PRIMARY KEY,
        at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    id: 4,
    name: 'change log by user',
    sql: `
      -- An erasure deletes the user's change entries: without this it would scan the whole log.
      CREATE INDEX changes_user ON changes (user_id);
    `,
  },
  {
    id: 5,
    name: 'record keys sealed beside their keyed hash',
    sql: `
      -- The key column now holds a keyed hash of the client's key (its keyId); the key itself
      -- rests here sealed by the region node, and each change entry carries a copy, so a sync or
      -- a migration can name the record. NULL in rows an older version wrote (with plain keys).
      ALTER TABLE records ADD COLUMN sealed_key BLOB;
      ALTER TABLE changes ADD COLUMN sealed_key BLOB;
    `,
  },
  {
    id: 6,
    name: 'migration fencing tokens',
    sql: `
      -- Per migration, the newest coordinator's lead token this region has seen: a primitive
      -- with an older one comes from a deposed leader and is refused (see migration-fences.ts).
      CREATE TABLE migration_fences (
        migration_id TEXT PRIMARY KEY,
        token INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
];
