import type Database from 'better-sqlite3';
import { DomicileError } from '../errors/domicile-error.js';
import { openSqliteDatabase } from '../store/sqlite/open-sqlite-database.js';
import { applyMigrations } from '../store/sqlite/schema-migrations.js';
import { coordinatorMigrations } from './coordinator-schema.js';
import type { BatchStep, CutOverPhase, MigrationSettings, MigrationState, RecordMismatch } from './migration-types.js';
import type { MovingUser } from './moving-users.js';
import type { MigrationPlan } from './plan-migration.js';

export interface MigrationRecord {
  id: string;
  createdAt: number;
  updatedAt: number;
  policy: { name: string; version: number };
  services: string[];
  state: MigrationState;
  /** What 'interrupted' or 'failed' goes back to on resume. */
  resumeState: MigrationState | null;
  settings: MigrationSettings;
  error: string | null;
  plan: MigrationPlan;
  finishedAt: number | null;
}

export interface BatchRecord {
  migrationId: string;
  id: number;
  service: string;
  source: string;
  destination: string;
  step: BatchStep;
  cutOverPhase: CutOverPhase | null;
  /** The step a failed batch failed in. */
  failedStep: BatchStep | null;
  users: number;
  /** The source's change-log sequence read before the copy's export: catch-up starts after it. */
  copySeq: number | null;
  /** The source's change-log sequence applied to the destination so far. */
  catchUpSeq: number | null;
  /** The destination's sequence before it became home: reverse replication starts after it. */
  reverseSeq: number | null;
  records: number;
  bytes: number;
  digest: string | null;
  pauseMs: number | null;
  rollbackPauseMs: number | null;
  mismatches: RecordMismatch[] | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface BatchMover {
  userId: string;
  market: string;
  /** The epoch the directory homed the user at in the source when the migration started. */
  epoch: number;
}

export interface TransferRecord {
  migrationId: string;
  batchId: number;
  service: string;
  from: string;
  to: string;
  policy: { name: string; version: number };
  users: string[];
  records: number;
  bytes: number;
  digest: string;
  completedAt: number;
}

export type BatchPatch = Partial<Pick<BatchRecord, 'step' | 'cutOverPhase' | 'failedStep' | 'copySeq' | 'catchUpSeq' | 'reverseSeq' | 'records' | 'bytes' | 'digest' | 'pauseMs' | 'rollbackPauseMs' | 'mismatches' | 'error'>>;

const batchColumns: Record<keyof BatchPatch, string> = {
  step: 'step', cutOverPhase: 'cut_over_phase', failedStep: 'failed_step', copySeq: 'copy_seq', catchUpSeq: 'catch_up_seq', reverseSeq: 'reverse_seq',
  records: 'records', bytes: 'bytes', digest: 'digest', pauseMs: 'pause_ms', rollbackPauseMs: 'rollback_pause_ms', mismatches: 'mismatches', error: 'error',
};

interface MigrationRow {
  id: string; created_at: number; updated_at: number; policy_name: string; policy_version: number; services: string; state: MigrationState;
  resume_state: MigrationState | null; batch_size: number; rate: number; error: string | null; plan: string; finished_at: number | null;
}
interface BatchRow {
  migration_id: string; id: number; service: string; source: string; destination: string; step: BatchStep; cut_over_phase: CutOverPhase | null;
  failed_step: BatchStep | null; users: number; copy_seq: number | null; catch_up_seq: number | null; reverse_seq: number | null; records: number; bytes: number;
  digest: string | null; pause_ms: number | null; rollback_pause_ms: number | null; mismatches: string | null; error: string | null; created_at: number; updated_at: number;
}
interface TransferRow {
  migration_id: string; batch_id: number; service: string; from_region: string; to_region: string; policy_name: string; policy_version: number;
  users: string; records: number; bytes: number; digest: string; completed_at: number;
}

function toMigration(r: MigrationRow): MigrationRecord {
  return {
    id: r.id, createdAt: r.created_at, updatedAt: r.updated_at, policy: { name: r.policy_name, version: r.policy_version },
    services: JSON.parse(r.services) as string[], state: r.state, resumeState: r.resume_state, settings: { batchSize: r.batch_size, rate: r.rate },
    error: r.error, plan: JSON.parse(r.plan) as MigrationPlan, finishedAt: r.finished_at,
  };
}

function toBatch(r: BatchRow): BatchRecord {
  return {
    migrationId: r.migration_id, id: r.id, service: r.service, source: r.source, destination: r.destination, step: r.step, cutOverPhase: r.cut_over_phase,
    failedStep: r.failed_step, users: r.users, copySeq: r.copy_seq, catchUpSeq: r.catch_up_seq, reverseSeq: r.reverse_seq, records: r.records, bytes: r.bytes,
    digest: r.digest, pauseMs: r.pause_ms, rollbackPauseMs: r.rollback_pause_ms, mismatches: r.mismatches === null ? null : (JSON.parse(r.mismatches) as RecordMismatch[]),
    error: r.error, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/**
 * The coordinator's durable state: one SQLite file (`<data>/migrations/coordinator.db`), WAL
 * and synchronous=FULL, so every checkpoint the engine records survives a SIGKILL or a power
 * loss before the next step starts. Every method is one transaction.
 */
export class CoordinatorStore {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    try {
      // One coordinator per data folder: a second process must not steer the same migration,
      // and is told so at once (a 100 ms lock wait) rather than after a wait.
      this.db = openSqliteDatabase(file, { durability: 'full', foreignKeys: true, exclusive: true, busyTimeoutMs: 100 });
      this.db.exec('BEGIN IMMEDIATE; COMMIT');
      applyMigrations(this.db, file, coordinatorMigrations);
    } catch (err) {
      if (err instanceof DomicileError) throw err;
      throw new DomicileError('UNAVAILABLE', `cannot open the migration coordinator's database ${file}: ${(err as Error).message} (does another \`domicile up\` use this data folder?)`, { cause: err });
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  createMigration(m: { id: string; policy: { name: string; version: number }; services: string[]; settings: MigrationSettings; plan: MigrationPlan }, movers: readonly MovingUser[]): void {
    const now = Date.now();
    const insertMover = this.db.prepare('INSERT INTO movers (migration_id, position, service, user_id, market, source, destination, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare(
        `INSERT INTO migrations (id, created_at, updated_at, policy_name, policy_version, services, state, batch_size, rate, plan)
         VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)`,
      ).run(m.id, now, now, m.policy.name, m.policy.version, JSON.stringify(m.services), m.settings.batchSize, m.settings.rate, JSON.stringify(m.plan));
      movers.forEach((u, i) => insertMover.run(m.id, i, u.service, u.userId, u.market, u.from, u.to, u.epoch));
    }).immediate();
  }

  latest(): MigrationRecord | undefined {
    const row = this.db.prepare<[], MigrationRow>('SELECT * FROM migrations ORDER BY rowid DESC LIMIT 1').get();
    return row && toMigration(row);
  }

  get(id: string): MigrationRecord | undefined {
    const row = this.db.prepare<[string], MigrationRow>('SELECT * FROM migrations WHERE id = ?').get(id);
    return row && toMigration(row);
  }

  setState(id: string, state: MigrationState, opts: { resumeState?: MigrationState | null; error?: string | null } = {}): void {
    const finished = state === 'completed' || state === 'rolled-back' ? Date.now() : null;
    this.db.prepare(
      `UPDATE migrations SET state = ?, updated_at = ?, finished_at = coalesce(?, finished_at),
         resume_state = CASE WHEN ? THEN ? ELSE resume_state END, error = CASE WHEN ? THEN ? ELSE error END WHERE id = ?`,
    ).run(state, Date.now(), finished, opts.resumeState === undefined ? 0 : 1, opts.resumeState ?? null, opts.error === undefined ? 0 : 1, opts.error ?? null, id);
  }

  setSettings(id: string, settings: MigrationSettings): void {
    this.db.prepare('UPDATE migrations SET batch_size = ?, rate = ?, updated_at = ? WHERE id = ?').run(settings.batchSize, settings.rate, Date.now(), id);
  }

  /**
   * Forms the next batch: up to `size` of the next unassigned movers that share a service,
   * a source and a destination. Batches are formed as the migration goes, so a batch size
   * changed while it runs applies to the next batch.
   */
  formBatch(migrationId: string, size: number): BatchRecord | undefined {
    return this.db.transaction((): BatchRecord | undefined => {
      const first = this.db.prepare<[string], { service: string; source: string; destination: string }>(
        'SELECT service, source, destination FROM movers WHERE migration_id = ? AND batch_id IS NULL ORDER BY position LIMIT 1',
      ).get(migrationId);
      if (!first) return undefined;
      const positions = this.db.prepare<[string, string, string, string, number], number>(
        'SELECT position FROM movers WHERE migration_id = ? AND batch_id IS NULL AND service = ? AND source = ? AND destination = ? ORDER BY position LIMIT ?',
      ).pluck().all(migrationId, first.service, first.source, first.destination, size);
      const id = (this.db.prepare<[string], number>('SELECT coalesce(max(id), 0) FROM batches WHERE migration_id = ?').pluck().get(migrationId) ?? 0) + 1;
      const now = Date.now();
      this.db.prepare(
        `INSERT INTO batches (migration_id, id, service, source, destination, step, users, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'copying', ?, ?, ?)`,
      ).run(migrationId, id, first.service, first.source, first.destination, positions.length, now, now);
      const assign = this.db.prepare('UPDATE movers SET batch_id = ? WHERE migration_id = ? AND position = ?');
      for (const p of positions) assign.run(id, migrationId, p);
      return this.batch(migrationId, id);
    }).immediate();
  }

  batch(migrationId: string, id: number): BatchRecord | undefined {
    const row = this.db.prepare<[string, number], BatchRow>('SELECT * FROM batches WHERE migration_id = ? AND id = ?').get(migrationId, id);
    return row && toBatch(row);
  }

  batches(migrationId: string, steps?: readonly BatchStep[]): BatchRecord[] {
    const rows = this.db.prepare<[string], BatchRow>('SELECT * FROM batches WHERE migration_id = ? ORDER BY id').all(migrationId);
    return rows.map(toBatch).filter((b) => steps === undefined || steps.includes(b.step));
  }

  movers(migrationId: string, batchId: number): BatchMover[] {
    return this.db.prepare<[string, number], BatchMover>(
      'SELECT user_id AS userId, market, epoch FROM movers WHERE migration_id = ? AND batch_id = ? ORDER BY position',
    ).all(migrationId, batchId);
  }

  /** Movers not in any batch yet. */
  unassigned(migrationId: string): number {
    return this.db.prepare<[string], number>('SELECT count(*) FROM movers WHERE migration_id = ? AND batch_id IS NULL').pluck().get(migrationId) ?? 0;
  }

  moverCount(migrationId: string): number {
    return this.db.prepare<[string], number>('SELECT count(*) FROM movers WHERE migration_id = ?').pluck().get(migrationId) ?? 0;
  }

  updateBatch(migrationId: string, id: number, patch: BatchPatch): void {
    const sets: string[] = [];
    const values: Array<string | number | null> = [];
    for (const [field, value] of Object.entries(patch) as Array<[keyof BatchPatch, BatchPatch[keyof BatchPatch]]>) {
      sets.push(`${batchColumns[field]} = ?`);
      values.push(field === 'mismatches' ? (value === null ? null : JSON.stringify(value)) : (value as string | number | null));
    }
    if (sets.length === 0) return;
    this.db.prepare(`UPDATE batches SET ${sets.join(', ')}, updated_at = ? WHERE migration_id = ? AND id = ?`).run(...values, Date.now(), migrationId, id);
  }

  /** Moves the reverse-replication checkpoint of these batches forward (never back). */
  advanceReverse(migrationId: string, batchIds: readonly number[], seq: number): void {
    const update = this.db.prepare('UPDATE batches SET reverse_seq = max(coalesce(reverse_seq, 0), ?) WHERE migration_id = ? AND id = ?');
    this.db.transaction(() => {
      for (const id of batchIds) update.run(seq, migrationId, id);
    }).immediate();
  }

  /** Records a completed batch's transfer; a second call for the same batch changes nothing. */
  insertTransfer(t: TransferRecord): void {
    this.db.prepare(
      `INSERT INTO transfers (migration_id, batch_id, service, from_region, to_region, policy_name, policy_version, users, user_count, records, bytes, digest, completed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (migration_id, batch_id) DO NOTHING`,
    ).run(t.migrationId, t.batchId, t.service, t.from, t.to, t.policy.name, t.policy.version, JSON.stringify(t.users), t.users.length, t.records, t.bytes, t.digest, t.completedAt);
  }

  transferCount(migrationId: string): number {
    return this.db.prepare<[string], number>('SELECT count(*) FROM transfers WHERE migration_id = ?').pluck().get(migrationId) ?? 0;
  }

  transfers(migrationId?: string): TransferRecord[] {
    const rows = migrationId === undefined
      ? this.db.prepare<[], TransferRow>('SELECT * FROM transfers ORDER BY id').all()
      : this.db.prepare<[string], TransferRow>('SELECT * FROM transfers WHERE migration_id = ? ORDER BY id').all(migrationId);
    return rows.map((r) => ({
      migrationId: r.migration_id, batchId: r.batch_id, service: r.service, from: r.from_region, to: r.to_region,
      policy: { name: r.policy_name, version: r.policy_version }, users: JSON.parse(r.users) as string[], records: r.records, bytes: r.bytes, digest: r.digest, completedAt: r.completed_at,
    }));
  }
}
