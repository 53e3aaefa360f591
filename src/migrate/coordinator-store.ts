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

export type BatchPatch = Partial<
  Pick<
    BatchRecord,
    | 'step'
    | 'cutOverPhase'
    | 'failedStep'
    | 'copySeq'
    | 'catchUpSeq'
    | 'reverseSeq'
    | 'records'
    | 'bytes'
    | 'digest'
    | 'pauseMs'
    | 'rollbackPauseMs'
    | 'mismatches'
    | 'error'
  >
>;

/** A new migration, as `createMigration` records it. */
export interface NewMigration {
  id: string;
  policy: { name: string; version: number };
  services: string[];
  settings: MigrationSettings;
  plan: MigrationPlan;
}

/**
 * The coordinator's durable state: everything a migration needs to resume after its process is
 * killed (its settings, every user it moves, each batch's step and change-log positions, the
 * transfers). Every method is one transaction, so a checkpoint the engine records is there
 * before its next step starts.
 *
 * Two kinds: a SQLite file in the data folder, for one gateway (`SqliteCoordinatorStore`),
 * and PostgreSQL, shared by several gateways, of which one at a time leads and runs the
 * migration (`PostgresCoordinatorStore`).
 */
export interface CoordinatorStore {
  /** Where the state rests, for messages (a file, or host:port/database). */
  readonly where: string;
  /** True when other gateway processes may share this state (and steer through it). */
  readonly shared: boolean;
  /**
   * Tries to become the one process that runs migrations on this state, and tells whether this
   * process leads now. A SQLite file is this process's alone (its lock is exclusive), so it
   * always leads; in PostgreSQL a session lock decides, and whoever holds it keeps it until
   * its process stops or its connection drops.
   */
  lead(): Promise<boolean>;
  /**
   * The lead token this process took the lead with: the coordinator's fencing token, raised
   * each time a process takes the lead (undefined before this process first led).
   */
  readonly leadToken: number | undefined;
  /**
   * The same state, for a leader's steps: every write through it (a checkpoint, a state, a
   * batch formed, a transfer) is made only while `token` is still the newest lead token, in
   * the write's own transaction, and refused with STALE_LEADER otherwise: a leader deposed
   * mid-step records nothing after its successor has taken the lead.
   */
  asLeader(token: number): CoordinatorStore;
  close(): Promise<void>;

  /**
   * Records a new migration, running, with its movers, unless one not yet finished exists
   * (started through another gateway, say): then it records nothing and returns that one.
   */
  createMigration(m: NewMigration, movers: readonly MovingUser[]): Promise<MigrationRecord | undefined>;
  latest(): Promise<MigrationRecord | undefined>;
  get(id: string): Promise<MigrationRecord | undefined>;
  /**
   * Moves a migration to `state` if it is in one of `from` (compare and set: an operator's
   * command and the coordinator's own step never overwrite each other), and tells whether it did.
   */
  setState(
    id: string,
    state: MigrationState,
    opts: { from: readonly MigrationState[]; resumeState?: MigrationState | null; error?: string | null },
  ): Promise<boolean>;
  setSettings(id: string, settings: MigrationSettings): Promise<void>;
  /**
   * Forms the next batch: up to `size` of the next unassigned movers that share a service,
   * a source and a destination. Batches are formed as the migration goes, so a batch size
   * changed while it runs applies to the next batch.
   */
  formBatch(migrationId: string, size: number): Promise<BatchRecord | undefined>;
  batch(migrationId: string, id: number): Promise<BatchRecord | undefined>;
  /** The migration's batches in order, or those at one of `steps`. */
  batches(migrationId: string, steps?: readonly BatchStep[]): Promise<BatchRecord[]>;
  movers(migrationId: string, batchId: number): Promise<BatchMover[]>;
  /** Movers not in any batch yet. */
  unassigned(migrationId: string): Promise<number>;
  moverCount(migrationId: string): Promise<number>;
  updateBatch(migrationId: string, id: number, patch: BatchPatch): Promise<void>;
  /** Moves the reverse-replication checkpoint of these batches forward (never back). */
  advanceReverse(migrationId: string, batchIds: readonly number[], seq: number): Promise<void>;
  /** Records a completed batch's transfer; a second call for the same batch changes nothing. */
  insertTransfer(t: TransferRecord): Promise<void>;
  transferCount(migrationId: string): Promise<number>;
  /** Transfers in the order they were recorded, of one migration or of all. */
  transfers(migrationId?: string): Promise<TransferRecord[]>;
}
