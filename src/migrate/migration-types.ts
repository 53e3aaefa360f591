/**
 * The words the migration coordinator is written in: a migration's states, a batch's steps,
 * and what a verification finds. Kept apart from the engine so that the store, the phases,
 * the operator API and the CLI share them without importing each other.
 */

/**
 * - running: batches are copied, caught up and cut over, one after another
 * - paused: an operator paused it; reverse replication of cut-over batches goes on
 * - interrupted: the process stopped while it ran (a crash, a restart); `migrate resume` goes on
 * - cut-over: every batch is served by its destination; reverse replication runs until
 *   `migrate complete` (purge the sources) or `migrate rollback`
 * - failed: a batch failed (a verification mismatch, a region that cannot be reached); resume
 *   retries it, rollback undoes the migration
 */
export const migrationStates = [
  'running',
  'paused',
  'interrupted',
  'cut-over',
  'completing',
  'completed',
  'rolling-back',
  'rolled-back',
  'failed',
] as const;
export type MigrationState = (typeof migrationStates)[number];

/** States in which nothing more will ever happen: a new migration may start. */
export const finalStates: readonly MigrationState[] = ['completed', 'rolled-back'];

/** States in which the engine's loop works on its own. */
export const workingStates: readonly MigrationState[] = ['running', 'completing', 'rolling-back'];

/**
 * A batch's step, each durable before the next begins:
 * copying → catching-up → cutting-over → cut-over → completing → completed,
 * or, undone, rolling-back → rolled-back; failed when a verification or a region failed.
 */
export const batchSteps = [
  'copying',
  'catching-up',
  'cutting-over',
  'cut-over',
  'completing',
  'completed',
  'failed',
  'rolling-back',
  'rolled-back',
] as const;
export type BatchStep = (typeof batchSteps)[number];

/**
 * Where inside a cut-over (or the cut-over of a rollback) a batch is, so that a restart can
 * settle it: 'fencing' (the old home is fenced, nothing flipped yet: undo it) or 'flipping'
 * (verified, the new home ready, flips under way: finish them).
 */
export type CutOverPhase = 'fencing' | 'flipping';

/** One record that differs between source and destination, or one user that could not be digested. */
/**
 * The key a RecordMismatch shows once it leaves the verification (which needs the keys to look
 * records up again): a record key is the client's string (a phone number, say), and a mismatch
 * rests in the coordinator's state and goes to its log and status, so there it names the user,
 * the collection, the versions and the plaintext hashes, never the key.
 */
export const withheldKey = '(key withheld)';

/** Hex characters of a record's keyed hash kept with a mismatch: enough to tell two sides apart. */
export const keptHashLength = 12;

/**
 * Mismatches as they are kept and shown: keys withheld (see withheldKey), and each side's
 * keyed hash cut to a short tag, so that what rests in the coordinator's state and log is
 * no full hash of a value either.
 */
export function withholdKeys(mismatches: readonly RecordMismatch[]): RecordMismatch[] {
  const tag = (side: RecordMismatch['source']) =>
    side && { version: side.version, hash: side.hash.slice(0, keptHashLength) };
  return mismatches.map((m) => ({
    ...m,
    key: m.key === '*' ? m.key : withheldKey,
    source: tag(m.source),
    destination: tag(m.destination),
  }));
}

export interface RecordMismatch {
  userId: string;
  collection: string;
  /** The client's key while verifying; withheldKey once kept or shown; '*' for a whole user. */
  key: string;
  source: { version: number; hash: string } | null;
  destination: { version: number; hash: string } | null;
  problem: string;
}

export interface MigrationSettings {
  /** Users per batch: a batch is copied, verified and cut over together. */
  batchSize: number;
  /** Rows per second the copy may import (catch-up is not capped: it carries what users wrote); 0: no cap. */
  rate: number;
}

/** 8 users a batch: with synchronous=FULL a cut-over costs about three commits per user, so this keeps pauses near 10 ms. */
export const defaultSettings: MigrationSettings = { batchSize: 32, rate: 0 };

/** Limits of the settings, so that bad input is refused where it enters. */
export const settingLimits = { batchSize: { min: 1, max: 10_000 }, rate: { min: 0, max: 10_000_000 } } as const;

/** The services in the order the articles moved them: e-commerce first. */
export const defaultServiceOrder = ['shop', 'account', 'messaging', 'cloud'];

/** The named points where DOMICILE_FAULT makes the process kill itself (fault-injection tests). */
export const faultPoints = [
  'after-copy-batch',
  'mid-catch-up',
  'inside-cut-over',
  'after-flip',
  'inside-complete',
] as const;
export type FaultPoint = (typeof faultPoints)[number];
