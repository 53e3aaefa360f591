import type Database from 'better-sqlite3';
import { DomicileError } from '../errors/domicile-error.js';
import { openSqliteDatabase } from '../store/sqlite/open-sqlite-database.js';
import { applyMigrations } from '../store/sqlite/sqlite-schema-ledger.js';
import {
  type BatchRow,
  batchAssignments,
  type MigrationRow,
  type TransferRow,
  toBatch,
  toMigration,
  toTransfer,
} from './coordinator-rows.js';
import { coordinatorMigrations } from './coordinator-schema.js';
import type {
  BatchMover,
  BatchPatch,
  BatchRecord,
  CoordinatorStore,
  MigrationRecord,
  NewMigration,
  TransferRecord,
} from './coordinator-store.js';
import { type BatchStep, finalStates, type MigrationSettings, type MigrationState } from './migration-types.js';
import type { MovingUser } from './moving-users.js';
import { staleLeader } from './stale-leader.js';

/**
 * The coordinator's state in one SQLite file (`<data>/migrations/coordinator.db`), WAL and
 * synchronous=FULL, so every checkpoint survives a SIGKILL or a power loss. The file is held
 * with an exclusive lock: one gateway process per data folder steers its migrations.
 */
export class SqliteCoordinatorStore implements CoordinatorStore {
  readonly shared = false;
  private readonly db: Database.Database;
  leadToken: number | undefined;
  /** Set in a leader's view (asLeader): the token its writes are fenced by. */
  private fence: number | undefined;

  constructor(readonly where: string) {
    try {
      // A second process must not steer the same migration, and is told so at once (a 100 ms
      // lock wait) rather than after a wait.
      this.db = openSqliteDatabase(where, {
        durability: 'full',
        foreignKeys: true,
        exclusive: true,
        busyTimeoutMs: 100,
      });
      this.db.exec('BEGIN IMMEDIATE; COMMIT');
      applyMigrations(this.db, where, coordinatorMigrations);
      // The file is this process's alone: opening it is taking the lead.
      this.leadToken = this.db
        .prepare<[], { epoch: number }>('UPDATE coordinator_lead SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch')
        .get()!.epoch;
    } catch (err) {
      if (err instanceof DomicileError) throw err;
      throw new DomicileError(
        'UNAVAILABLE',
        `cannot open the migration coordinator's database ${where}: ${(err as Error).message} (does another \`domicile up\` use this data folder?)`,
        { cause: err },
      );
    }
  }

  lead(): Promise<boolean> {
    return Promise.resolve(this.db.open);
  }

  asLeader(token: number): CoordinatorStore {
    // A view sharing this store's database: only the token its writes check differs.
    const view = Object.create(this) as SqliteCoordinatorStore;
    view.fence = token;
    return view;
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }

  /** In a leader's view, refuses a write once another lead token is newest (checked in the write's own synchronous call). */
  private holdLead(): void {
    if (this.fence === undefined) return;
    const epoch = this.db
      .prepare<[], { epoch: number }>('SELECT epoch FROM coordinator_lead WHERE id = 1')
      .get()?.epoch;
    if (epoch !== this.fence) throw staleLeader(this.fence, epoch);
  }

  /** Runs fn now, as one call of the interface: better-sqlite3 is synchronous, and its errors become the promise's. */
  private run<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  createMigration(m: NewMigration, movers: readonly MovingUser[]): Promise<MigrationRecord | undefined> {
    return this.run(() => {
      const now = Date.now();
      const insertMover = this.db.prepare(
        'INSERT INTO movers (migration_id, position, service, user_id, market, source, destination, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      return this.db
        .transaction((): MigrationRecord | undefined => {
          const latest = this.db
            .prepare<[], MigrationRow>('SELECT * FROM migrations ORDER BY rowid DESC LIMIT 1')
            .get();
          if (latest && !finalStates.includes(latest.state)) return toMigration(latest);
          this.db
            .prepare(
              `INSERT INTO migrations (id, created_at, updated_at, policy_name, policy_version, services, state, batch_size, rate, plan)
           VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)`,
            )
            .run(
              m.id,
              now,
              now,
              m.policy.name,
              m.policy.version,
              JSON.stringify(m.services),
              m.settings.batchSize,
              m.settings.rate,
              JSON.stringify(m.plan),
            );
          for (const [i, u] of movers.entries())
            insertMover.run(m.id, i, u.service, u.userId, u.market, u.from, u.to, u.epoch);
          return undefined;
        })
        .immediate();
    });
  }

  latest(): Promise<MigrationRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare<[], MigrationRow>('SELECT * FROM migrations ORDER BY rowid DESC LIMIT 1').get();
      return row && toMigration(row);
    });
  }

  get(id: string): Promise<MigrationRecord | undefined> {
    return this.run(() => {
      const row = this.db.prepare<[string], MigrationRow>('SELECT * FROM migrations WHERE id = ?').get(id);
      return row && toMigration(row);
    });
  }

  setState(
    id: string,
    state: MigrationState,
    opts: { from: readonly MigrationState[]; resumeState?: MigrationState | null; error?: string | null },
  ): Promise<boolean> {
    return this.run(() => {
      this.holdLead();
      const finished = state === 'completed' || state === 'rolled-back' ? Date.now() : null;
      const from = opts.from.map(() => '?').join(', ');
      const changed = this.db
        .prepare(
          `UPDATE migrations SET state = ?, updated_at = ?, finished_at = coalesce(?, finished_at),
           resume_state = CASE WHEN ? THEN ? ELSE resume_state END, error = CASE WHEN ? THEN ? ELSE error END
         WHERE id = ? AND state IN (${from})`,
        )
        .run(
          state,
          Date.now(),
          finished,
          opts.resumeState === undefined ? 0 : 1,
          opts.resumeState ?? null,
          opts.error === undefined ? 0 : 1,
          opts.error ?? null,
          id,
          ...opts.from,
        );
      return changed.changes === 1;
    });
  }

  setSettings(id: string, settings: MigrationSettings): Promise<void> {
    return this.run(() => {
      this.holdLead();
      this.db
        .prepare('UPDATE migrations SET batch_size = ?, rate = ?, updated_at = ? WHERE id = ?')
        .run(settings.batchSize, settings.rate, Date.now(), id);
    });
  }

  formBatch(migrationId: string, size: number): Promise<BatchRecord | undefined> {
    return this.run(() =>
      this.db
        .transaction((): BatchRecord | undefined => {
          this.holdLead();
          const first = this.db
            .prepare<[string], { service: string; source: string; destination: string }>(
              'SELECT service, source, destination FROM movers WHERE migration_id = ? AND batch_id IS NULL ORDER BY position LIMIT 1',
            )
            .get(migrationId);
          if (!first) return undefined;
          const positions = this.db
            .prepare<[string, string, string, string, number], number>(
              'SELECT position FROM movers WHERE migration_id = ? AND batch_id IS NULL AND service = ? AND source = ? AND destination = ? ORDER BY position LIMIT ?',
            )
            .pluck()
            .all(migrationId, first.service, first.source, first.destination, size);
          const id =
            (this.db
              .prepare<[string], number>('SELECT coalesce(max(id), 0) FROM batches WHERE migration_id = ?')
              .pluck()
              .get(migrationId) ?? 0) + 1;
          const now = Date.now();
          this.db
            .prepare(
              `INSERT INTO batches (migration_id, id, service, source, destination, step, users, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'copying', ?, ?, ?)`,
            )
            .run(migrationId, id, first.service, first.source, first.destination, positions.length, now, now);
          const assign = this.db.prepare('UPDATE movers SET batch_id = ? WHERE migration_id = ? AND position = ?');
          for (const p of positions) assign.run(id, migrationId, p);
          const row = this.db
            .prepare<[string, number], BatchRow>('SELECT * FROM batches WHERE migration_id = ? AND id = ?')
            .get(migrationId, id);
          return row && toBatch(row);
        })
        .immediate(),
    );
  }

  batch(migrationId: string, id: number): Promise<BatchRecord | undefined> {
    return this.run(() => {
      const row = this.db
        .prepare<[string, number], BatchRow>('SELECT * FROM batches WHERE migration_id = ? AND id = ?')
        .get(migrationId, id);
      return row && toBatch(row);
    });
  }

  batches(migrationId: string, steps?: readonly BatchStep[]): Promise<BatchRecord[]> {
    return this.run(() => {
      const rows = this.db
        .prepare<[string], BatchRow>('SELECT * FROM batches WHERE migration_id = ? ORDER BY id')
        .all(migrationId);
      return rows.map(toBatch).filter((b) => steps === undefined || steps.includes(b.step));
    });
  }

  movers(migrationId: string, batchId: number): Promise<BatchMover[]> {
    return this.run(() =>
      this.db
        .prepare<[string, number], BatchMover>(
          'SELECT user_id AS userId, market, epoch FROM movers WHERE migration_id = ? AND batch_id = ? ORDER BY position',
        )
        .all(migrationId, batchId),
    );
  }

  unassigned(migrationId: string): Promise<number> {
    return this.run(
      () =>
        this.db
          .prepare<[string], number>('SELECT count(*) FROM movers WHERE migration_id = ? AND batch_id IS NULL')
          .pluck()
          .get(migrationId) ?? 0,
    );
  }

  moverCount(migrationId: string): Promise<number> {
    return this.run(
      () =>
        this.db
          .prepare<[string], number>('SELECT count(*) FROM movers WHERE migration_id = ?')
          .pluck()
          .get(migrationId) ?? 0,
    );
  }

  updateBatch(migrationId: string, id: number, patch: BatchPatch): Promise<void> {
    return this.run(() => {
      this.holdLead();
      const sets = batchAssignments(patch);
      if (sets.length === 0) return;
      this.db
        .prepare(
          `UPDATE batches SET ${sets.map(([column]) => `${column} = ?`).join(', ')}, updated_at = ? WHERE migration_id = ? AND id = ?`,
        )
        .run(...sets.map(([, value]) => value), Date.now(), migrationId, id);
    });
  }

  advanceReverse(migrationId: string, batchIds: readonly number[], seq: number): Promise<void> {
    return this.run(() => {
      this.holdLead();
      const update = this.db.prepare(
        'UPDATE batches SET reverse_seq = max(coalesce(reverse_seq, 0), ?) WHERE migration_id = ? AND id = ?',
      );
      this.db
        .transaction(() => {
          for (const id of batchIds) update.run(seq, migrationId, id);
        })
        .immediate();
    });
  }

  insertTransfer(t: TransferRecord): Promise<void> {
    return this.run(() => {
      this.holdLead();
      this.db
        .prepare(
          `INSERT INTO transfers (migration_id, batch_id, service, from_region, to_region, policy_name, policy_version, users, user_count, records, bytes, digest, completed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (migration_id, batch_id) DO NOTHING`,
        )
        .run(
          t.migrationId,
          t.batchId,
          t.service,
          t.from,
          t.to,
          t.policy.name,
          t.policy.version,
          JSON.stringify(t.users),
          t.users.length,
          t.records,
          t.bytes,
          t.digest,
          t.completedAt,
        );
    });
  }

  transferCount(migrationId: string): Promise<number> {
    return this.run(
      () =>
        this.db
          .prepare<[string], number>('SELECT count(*) FROM transfers WHERE migration_id = ?')
          .pluck()
          .get(migrationId) ?? 0,
    );
  }

  transfers(migrationId?: string): Promise<TransferRecord[]> {
    return this.run(() => {
      const rows =
        migrationId === undefined
          ? this.db.prepare<[], TransferRow>('SELECT * FROM transfers ORDER BY id').all()
          : this.db
              .prepare<[string], TransferRow>('SELECT * FROM transfers WHERE migration_id = ? ORDER BY id')
              .all(migrationId);
      return rows.map(toTransfer);
    });
  }
}
