import type { Directory } from '../directory/directory.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { RegionClient } from '../region/region-client.js';
import type { BatchMover, BatchRecord, CoordinatorStore } from './coordinator-store.js';
import type { FaultHook } from './fault-point.js';
import type { RecordMismatch } from './migration-types.js';
import type { ProgressMeter } from './progress-meter.js';
import type { RateLimiter } from './rate-limiter.js';
import type { CopiedRows } from './verified-rows.js';

/** Everything a phase needs to work on one batch. */
export interface BatchContext {
  batch: BatchRecord;
  users: BatchMover[];
  source: RegionClient;
  destination: RegionClient;
  directory: Directory;
  store: CoordinatorStore;
  limiter: RateLimiter;
  meter: ProgressMeter;
  fault: FaultHook;
  /** The policy the migration was planned under, recorded with its transfers. */
  policy: { name: string; version: number };
  /** What the copy exported of this batch, while this process has it (see CopiedRows). */
  copied: CopiedRows;
  /** True once an operator asked the engine to stop what it does (pause, rollback, shutdown). */
  stopRequested: () => Promise<boolean>;
}

/**
 * What a phase returns: it never throws halfway, so the engine always knows whether the
 * step's checkpoint was recorded. A failure names what went wrong; a verification failure
 * also names the records.
 */
export type PhaseResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: DomicileError; mismatches?: RecordMismatch[] };

export function succeeded<T>(value: T): PhaseResult<T> {
  return { ok: true, value };
}

/** Wraps anything thrown into a failure whose message says which phase of which batch failed. */
export function failed<T>(err: unknown, what: string, mismatches?: RecordMismatch[]): PhaseResult<T> {
  const cause = err instanceof DomicileError ? err : undefined;
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  const error = new DomicileError(cause?.code ?? 'INTERNAL', message, {
    cause: err,
    ...(cause?.details ? { details: cause.details } : {}),
  });
  return mismatches === undefined ? { ok: false, error } : { ok: false, error, mismatches };
}

export function describeBatch(batch: BatchRecord): string {
  return `batch ${batch.id} (${batch.users} users' ${batch.service}, ${batch.source} → ${batch.destination})`;
}
