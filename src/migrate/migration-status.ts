import type { BatchRecord, MigrationRecord } from './coordinator-store.js';
import {
  type BatchStep,
  finalStates,
  type MigrationSettings,
  type MigrationState,
  type RecordMismatch,
} from './migration-types.js';

/** What `domicile migrate status` shows, and what every operator route answers with. */
export type MigrationStatus = {
  id: string;
  state: MigrationState;
  /** What `resume` goes back to, when interrupted or failed. */
  resumeState: MigrationState | null;
  policy: { name: string; version: number };
  services: string[];
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  settings: MigrationSettings;
  /** The plan's estimate when the migration started. */
  planned: { users: number; records: number; bytes: number };
  users: { total: number; copied: number; cutOver: number; completed: number; rolledBack: number };
  batches: { total: number; byStep: Partial<Record<BatchStep, number>> };
  /** Rows and bytes (plaintext JSON) copied into destinations. */
  moved: { rows: number; bytes: number };
  rate: { rowsPerSecond: number; bytesPerSecond: number; usersPerSecond: number };
  etaSeconds: number | null;
  /** Change-log entries not applied yet: the batch in catch-up, and reverse replication. */
  lag: { catchUp: number; reverse: number };
  /** How long each batch's users waited, from the fence to the last flip. */
  pauses: { count: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
  current: { batch: number; service: string; step: BatchStep; from: string; to: string } | null;
  error: string | null;
  mismatches: RecordMismatch[];
  transfers: number;
  /** Problems that do not stop the migration (reverse replication failing, another policy in force). */
  warnings: string[];
  /** What the operator can do next, in words. */
  next: string;
};

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

const copiedSteps: readonly BatchStep[] = [
  'catching-up',
  'cutting-over',
  'cut-over',
  'completing',
  'completed',
  'rolling-back',
];
const cutOverSteps: readonly BatchStep[] = ['cut-over', 'completing', 'completed', 'rolling-back'];
const openSteps: readonly BatchStep[] = [
  'copying',
  'catching-up',
  'cutting-over',
  'completing',
  'rolling-back',
  'failed',
];

function nextHint(m: MigrationRecord): string {
  switch (m.state) {
    case 'running':
      return 'it runs: `domicile migrate pause` to pause it, `domicile migrate rollback` to undo it';
    case 'paused':
      return '`domicile migrate resume` to go on, `domicile migrate rollback` to undo it';
    case 'interrupted':
      return 'the process stopped while it ran: `domicile migrate resume` to go on, or `domicile migrate rollback`';
    case 'cut-over':
      return 'every batch is served by its new home and reverse replication runs: `domicile migrate complete` to purge the sources, or `domicile migrate rollback`';
    case 'completing':
      return 'purging the sources';
    case 'completed':
      return 'done: the transfers are recorded';
    case 'rolling-back':
      return 'rolling back';
    case 'rolled-back':
      return 'rolled back: every user is served by the source again';
    case 'failed':
      return '`domicile migrate resume` to retry (a batch that failed verification is copied again), or `domicile migrate rollback`';
  }
}

export function buildStatus(
  m: MigrationRecord,
  batches: readonly BatchRecord[],
  extra: {
    totalUsers: number;
    transfers: number;
    rates: MigrationStatus['rate'];
    lag: MigrationStatus['lag'];
    warnings: string[];
  },
): MigrationStatus {
  const byStep: Partial<Record<BatchStep, number>> = {};
  const sum = (steps: readonly BatchStep[]) =>
    batches.filter((b) => steps.includes(b.step)).reduce((n, b) => n + b.users, 0);
  for (const b of batches) byStep[b.step] = (byStep[b.step] ?? 0) + 1;
  const pauses = batches
    .map((b) => b.pauseMs)
    .filter((p): p is number => p !== null)
    .sort((a, b) => a - b);
  const rows = batches.reduce((n, b) => n + b.records, 0);
  const bytes = batches.reduce((n, b) => n + b.bytes, 0);
  const open = batches.find((b) => openSteps.includes(b.step));
  const working = m.state === 'running' || m.state === 'completing' || m.state === 'rolling-back';
  const remainingRows = Math.max(0, m.plan.totals.records - rows);
  const remainingUsers = Math.max(0, extra.totalUsers - sum(copiedSteps));
  const etaSeconds =
    m.state !== 'running'
      ? null
      : extra.rates.rowsPerSecond > 0 && remainingRows > 0
        ? remainingRows / extra.rates.rowsPerSecond
        : extra.rates.usersPerSecond > 0
          ? remainingUsers / extra.rates.usersPerSecond
          : null;
  return {
    id: m.id,
    state: m.state,
    resumeState: m.resumeState,
    policy: m.policy,
    services: m.services,
    createdAt: new Date(m.createdAt).toISOString(),
    updatedAt: new Date(m.updatedAt).toISOString(),
    finishedAt: m.finishedAt === null ? null : new Date(m.finishedAt).toISOString(),
    settings: m.settings,
    planned: m.plan.totals,
    users: {
      total: extra.totalUsers,
      copied: sum(copiedSteps),
      cutOver: sum(cutOverSteps),
      completed: sum(['completed']),
      rolledBack: sum(['rolled-back']),
    },
    batches: { total: batches.length, byStep },
    moved: { rows, bytes },
    rate: working ? extra.rates : { rowsPerSecond: 0, bytesPerSecond: 0, usersPerSecond: 0 },
    etaSeconds,
    lag: extra.lag,
    pauses:
      pauses.length === 0
        ? null
        : {
            count: pauses.length,
            p50Ms: percentile(pauses, 50),
            p99Ms: percentile(pauses, 99),
            maxMs: pauses.at(-1) ?? 0,
          },
    current: open
      ? { batch: open.id, service: open.service, step: open.step, from: open.source, to: open.destination }
      : null,
    error: m.error,
    mismatches: batches.flatMap((b) => b.mismatches ?? []).slice(0, 20),
    transfers: extra.transfers,
    warnings: finalStates.includes(m.state) ? [] : extra.warnings,
    next: nextHint(m),
  };
}
