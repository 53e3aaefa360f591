import type { SchemaMigration } from '../store/schema-runner.js';

/**
 * The coordinator's schema, as append-only migrations (a change is a new entry at the end,
 * recorded with its SHA-256 in the schema_migrations ledger, never an edit of an applied one).
 *
 * Everything a migration needs to resume after a SIGKILL is here: its settings, every user
 * it moves (with the epoch they were homed at), and per batch the step it reached and the
 * change-log positions it resumes from. `transfers` records each completed batch for the
 * audit log (a later issue moves it there).
 */
export const coordinatorMigrations: readonly SchemaMigration[] = [
  {
    id: 1,
    name: 'migrations, movers, batches, transfers',
    sql: `
      CREATE TABLE migrations (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        policy_name TEXT NOT NULL,
        policy_version INTEGER NOT NULL,
        services TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'interrupted', 'cut-over', 'completing', 'completed', 'rolling-back', 'rolled-back', 'failed')),
        resume_state TEXT,
        batch_size INTEGER NOT NULL CHECK (batch_size >= 1),
        rate INTEGER NOT NULL CHECK (rate >= 0),
        error TEXT,
        plan TEXT NOT NULL,
        finished_at INTEGER
      );

      CREATE TABLE movers (
        migration_id TEXT NOT NULL REFERENCES migrations (id),
        position INTEGER NOT NULL,
        service TEXT NOT NULL,
        user_id TEXT NOT NULL,
        market TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        batch_id INTEGER,
        PRIMARY KEY (migration_id, position)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX movers_user ON movers (migration_id, service, user_id);
      CREATE INDEX movers_batch ON movers (migration_id, batch_id);

      CREATE TABLE batches (
        migration_id TEXT NOT NULL REFERENCES migrations (id),
        id INTEGER NOT NULL,
        service TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        step TEXT NOT NULL CHECK (step IN ('copying', 'catching-up', 'cutting-over', 'cut-over', 'completing', 'completed', 'failed', 'rolling-back', 'rolled-back')),
        cut_over_phase TEXT CHECK (cut_over_phase IN ('fencing', 'flipping')),
        failed_step TEXT,
        users INTEGER NOT NULL,
        copy_seq INTEGER,
        catch_up_seq INTEGER,
        reverse_seq INTEGER,
        records INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        digest TEXT,
        pause_ms REAL,
        rollback_pause_ms REAL,
        mismatches TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (migration_id, id)
      ) WITHOUT ROWID;

      CREATE TABLE transfers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        migration_id TEXT NOT NULL,
        batch_id INTEGER NOT NULL,
        service TEXT NOT NULL,
        from_region TEXT NOT NULL,
        to_region TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        policy_version INTEGER NOT NULL,
        users TEXT NOT NULL,
        user_count INTEGER NOT NULL,
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        digest TEXT NOT NULL,
        completed_at INTEGER NOT NULL,
        UNIQUE (migration_id, batch_id)
      );
    `,
  },
  {
    id: 2,
    name: 'the lead token',
    sql: `
      -- The coordinator's fencing token: raised each time a process takes the lead. Every
      -- checkpoint a leader records, and every region primitive it calls, carries the token it
      -- took the lead with; an older one (a leader deposed mid-step) is refused.
      CREATE TABLE coordinator_lead (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        epoch INTEGER NOT NULL
      );
      INSERT INTO coordinator_lead (id, epoch) VALUES (1, 0);
    `,
  },
];

/**
 * The same schema in PostgreSQL, with the same ids and names, for gateways that share their
 * coordinator's state. Its ledger is `coordinator_schema_migrations`, so it may rest in the
 * directory's database. `seq` orders the migrations as SQLite's rowid does.
 */
export const postgresCoordinatorMigrations: readonly SchemaMigration[] = [
  {
    id: 1,
    name: 'migrations, movers, batches, transfers',
    sql: `
      CREATE TABLE migrations (
        seq bigserial UNIQUE,
        id text PRIMARY KEY,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        policy_name text NOT NULL,
        policy_version bigint NOT NULL,
        services text NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'paused', 'interrupted', 'cut-over', 'completing', 'completed', 'rolling-back', 'rolled-back', 'failed')),
        resume_state text,
        batch_size bigint NOT NULL CHECK (batch_size >= 1),
        rate bigint NOT NULL CHECK (rate >= 0),
        error text,
        plan text NOT NULL,
        finished_at bigint
      );

      CREATE TABLE movers (
        migration_id text NOT NULL REFERENCES migrations (id),
        position bigint NOT NULL,
        service text NOT NULL,
        user_id text NOT NULL,
        market text NOT NULL,
        source text NOT NULL,
        destination text NOT NULL,
        epoch bigint NOT NULL,
        batch_id bigint,
        PRIMARY KEY (migration_id, position)
      );
      CREATE UNIQUE INDEX movers_user ON movers (migration_id, service, user_id);
      CREATE INDEX movers_batch ON movers (migration_id, batch_id);
      -- The next batch's movers without reading past those already batched.
      CREATE INDEX movers_unassigned ON movers (migration_id, position) WHERE batch_id IS NULL;

      CREATE TABLE batches (
        migration_id text NOT NULL REFERENCES migrations (id),
        id bigint NOT NULL,
        service text NOT NULL,
        source text NOT NULL,
        destination text NOT NULL,
        step text NOT NULL CHECK (step IN ('copying', 'catching-up', 'cutting-over', 'cut-over', 'completing', 'completed', 'failed', 'rolling-back', 'rolled-back')),
        cut_over_phase text CHECK (cut_over_phase IN ('fencing', 'flipping')),
        failed_step text,
        users bigint NOT NULL,
        copy_seq bigint,
        catch_up_seq bigint,
        reverse_seq bigint,
        records bigint NOT NULL DEFAULT 0,
        bytes bigint NOT NULL DEFAULT 0,
        digest text,
        pause_ms double precision,
        rollback_pause_ms double precision,
        mismatches text,
        error text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (migration_id, id)
      );

      CREATE TABLE transfers (
        id bigserial PRIMARY KEY,
        migration_id text NOT NULL,
        batch_id bigint NOT NULL,
        service text NOT NULL,
        from_region text NOT NULL,
        to_region text NOT NULL,
        policy_name text NOT NULL,
        policy_version bigint NOT NULL,
        users text NOT NULL,
        user_count bigint NOT NULL,
        records bigint NOT NULL,
        bytes bigint NOT NULL,
        digest text NOT NULL,
        completed_at bigint NOT NULL,
        UNIQUE (migration_id, batch_id)
      );
    `,
  },
  {
    id: 2,
    name: 'the lead token',
    sql: `
      -- The coordinator's fencing token: raised each time a process takes the lead. Every
      -- checkpoint a leader records, and every region primitive it calls, carries the token it
      -- took the lead with; an older one (a leader deposed mid-step) is refused.
      CREATE TABLE coordinator_lead (
        id integer PRIMARY KEY CHECK (id = 1),
        epoch bigint NOT NULL
      );
      INSERT INTO coordinator_lead (id, epoch) VALUES (1, 0);
    `,
  },
];
