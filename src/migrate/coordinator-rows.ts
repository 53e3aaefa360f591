import type { BatchPatch, BatchRecord, MigrationRecord, TransferRecord } from './coordinator-store.js';
import {
  type BatchStep,
  type CutOverPhase,
  type MigrationState,
  type RecordMismatch,
  withholdKeys,
} from './migration-types.js';
import type { MigrationPlan } from './plan-migration.js';

/*
 * The coordinator's rows as both of its stores keep them (the same tables and columns in SQLite
 * and PostgreSQL; lists and plans as JSON text), and how they map to its records.
 */

export const batchColumns: Record<keyof BatchPatch, string> = {
  step: 'step',
  cutOverPhase: 'cut_over_phase',
  failedStep: 'failed_step',
  copySeq: 'copy_seq',
  catchUpSeq: 'catch_up_seq',
  reverseSeq: 'reverse_seq',
  records: 'records',
  bytes: 'bytes',
  digest: 'digest',
  pauseMs: 'pause_ms',
  rollbackPauseMs: 'rollback_pause_ms',
  mismatches: 'mismatches',
  error: 'error',
};

export interface MigrationRow {
  id: string;
  created_at: number;
  updated_at: number;
  policy_name: string;
  policy_version: number;
  services: string;
  state: MigrationState;
  resume_state: MigrationState | null;
  batch_size: number;
  rate: number;
  error: string | null;
  plan: string;
  finished_at: number | null;
}
export interface BatchRow {
  migration_id: string;
  id: number;
  service: string;
  source: string;
  destination: string;
  step: BatchStep;
  cut_over_phase: CutOverPhase | null;
  failed_step: BatchStep | null;
  users: number;
  copy_seq: number | null;
  catch_up_seq: number | null;
  reverse_seq: number | null;
  records: number;
  bytes: number;
  digest: string | null;
  pause_ms: number | null;
  rollback_pause_ms: number | null;
  mismatches: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}
export interface TransferRow {
  migration_id: string;
  batch_id: number;
  service: string;
  from_region: string;
  to_region: string;
  policy_name: string;
  policy_version: number;
  users: string;
  records: number;
  bytes: number;
  digest: string;
  completed_at: number;
}

export function toMigration(r: MigrationRow): MigrationRecord {
  return {
    id: r.id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    policy: { name: r.policy_name, version: r.policy_version },
    services: JSON.parse(r.services) as string[],
    state: r.state,
    resumeState: r.resume_state,
    settings: { batchSize: r.batch_size, rate: r.rate },
    error: r.error,
    plan: JSON.parse(r.plan) as MigrationPlan,
    finishedAt: r.finished_at,
  };
}

export function toBatch(r: BatchRow): BatchRecord {
  return {
    migrationId: r.migration_id,
    id: r.id,
    service: r.service,
    source: r.source,
    destination: r.destination,
    step: r.step,
    cutOverPhase: r.cut_over_phase,
    failedStep: r.failed_step,
    users: r.users,
    copySeq: r.copy_seq,
    catchUpSeq: r.catch_up_seq,
    reverseSeq: r.reverse_seq,
    records: r.records,
    bytes: r.bytes,
    digest: r.digest,
    pauseMs: r.pause_ms,
    rollbackPauseMs: r.rollback_pause_ms,
    mismatches: r.mismatches === null ? null : (JSON.parse(r.mismatches) as RecordMismatch[]),
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toTransfer(r: TransferRow): TransferRecord {
  return {
    migrationId: r.migration_id,
    batchId: r.batch_id,
    service: r.service,
    from: r.from_region,
    to: r.to_region,
    policy: { name: r.policy_name, version: r.policy_version },
    users: JSON.parse(r.users) as string[],
    records: r.records,
    bytes: r.bytes,
    digest: r.digest,
    completedAt: r.completed_at,
  };
}

/** A batch patch as column assignments and their values (lists as JSON). */
export function batchAssignments(patch: BatchPatch): Array<[column: string, value: string | number | null]> {
  return (Object.entries(patch) as Array<[keyof BatchPatch, BatchPatch[keyof BatchPatch]]>).map(([field, value]) => [
    batchColumns[field],
    // Mismatches are kept without the clients' record keys (see withheldKey).
    field === 'mismatches'
      ? value === null
        ? null
        : JSON.stringify(withholdKeys(value as RecordMismatch[]))
      : (value as string | number | null),
  ]);
}
