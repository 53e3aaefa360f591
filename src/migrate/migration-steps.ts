import { DomicileError } from '../errors/domicile-error.js';
import type { RegionClient } from '../region/region-client.js';
import type { BatchContext, PhaseResult } from './batch-context.js';
import { type CatchUpOptions, catchUpBatch } from './catch-up-batch.js';
import { completeBatch } from './complete-batch.js';
import type { BatchMover, BatchRecord, CoordinatorStore, MigrationRecord } from './coordinator-store.js';
import { copyBatch } from './copy-batch.js';
import { cutOverBatch } from './cut-over-batch.js';
import type { ProgressMeter } from './progress-meter.js';
import { replicateBack } from './reverse-replication.js';
import { discardCopy, rollbackCutOver } from './rollback-batch.js';
import { settleBatch } from './settle-batch.js';
import { verifyBatch } from './verify-batch.js';

/*
 * The engine's steps, one call each, per migration state: running (forwardStep), completing
 * (completeStep), rolling-back (rollbackStep), and reverse replication alongside. Each does
 * one unit of work and records it before returning, so the loop may stop between any two.
 */

/** What the engine lends its steps: the store, the batches' contexts, and how to fail. */
export interface StepHost {
  store: CoordinatorStore;
  meter: ProgressMeter;
  catchUp: CatchUpOptions;
  fullVerify: boolean;
  context(batch: BatchRecord): Promise<BatchContext>;
  movers(batch: BatchRecord): Promise<BatchMover[]>;
  /** A region as this leader calls it for one migration (its primitives fenced by the lead token). */
  region(id: string, migrationId: string): RegionClient;
  log(line: string): void;
  fail(m: MigrationRecord, result: PhaseResult<unknown>): Promise<void>;
}

/** One forward step: the open batch's next phase, or the next batch. */
export async function forwardStep(h: StepHost, m: MigrationRecord): Promise<boolean> {
  let batch =
    (await h.store.batches(m.id, ['copying', 'catching-up', 'cutting-over', 'failed']))[0] ??
    (await h.store.formBatch(m.id, m.settings.batchSize));
  if (!batch) {
    await h.store.setState(m.id, 'cut-over', { from: ['running'] });
    h.log(`migration ${m.id}: every batch is cut over; reverse replication runs until complete or rollback`);
    return true;
  }
  const ctx = await h.context(batch);
  switch (batch.step) {
    case 'failed': {
      // Resumed after a verification failure: copy the batch again from scratch.
      await ctx.destination.purgeUsers({
        service: batch.service,
        userIds: ctx.users.map((u) => u.userId),
        reason: 'migration-rollback',
      });
      await h.store.updateBatch(m.id, batch.id, {
        step: 'copying',
        failedStep: null,
        copySeq: null,
        catchUpSeq: null,
        mismatches: null,
        error: null,
      });
      return true;
    }
    case 'cutting-over': {
      const settled = await settleBatch(ctx);
      if (!settled.ok) await h.fail(m, settled);
      return true;
    }
    case 'copying': {
      const copied = await copyBatch(ctx);
      if (!copied.ok) await h.fail(m, copied);
      return true;
    }
    case 'catching-up': {
      const caught = await catchUpBatch(ctx, h.catchUp);
      if (!caught.ok) {
        await h.fail(m, caught);
        return true;
      }
      if (!caught.value.done || (await ctx.stopRequested())) return true;
      batch = (await h.store.batch(m.id, batch.id)) ?? batch;
      const verified = await verifyBatch({ ...ctx, batch }, caught.value.seq);
      if (!verified.ok) {
        await h.fail(m, verified);
        return true;
      }
      const cut = await cutOverBatch({ ...ctx, batch }, verified.value, { fullVerify: h.fullVerify });
      if (!cut.ok) {
        await h.fail(m, cut);
        return true;
      }
      h.log(
        `migration ${m.id}: batch ${batch.id} cut over (${batch.users} users' ${batch.service} → ${batch.destination}) in ${cut.value.pauseMs.toFixed(1)} ms`,
      );
      return true;
    }
    default:
      return true;
  }
}

/**
 * A reverse-replication pass. Its failure does not stop the migration (users are served by
 * their new home either way); it is shown in the status, and a rollback, which drains the
 * same changes first, refuses rather than lose them.
 */
export async function reversePass(h: StepHost, m: MigrationRecord): Promise<void> {
  const batches = await h.store.batches(m.id, ['cut-over']);
  if (batches.length === 0) return;
  try {
    const { lag } = await replicateBack({
      store: h.store,
      batches,
      movers: (b) => h.movers(b),
      region: (id) => h.region(id, m.id),
    });
    h.meter.reverseLag = lag;
    h.meter.reverseError = null;
  } catch (err) {
    const message = `reverse replication failed: ${(err as Error).message}`;
    if (h.meter.reverseError !== message) h.log(`migration ${m.id}: ${message}`);
    h.meter.reverseError = message;
  }
}

/** One batch's completion (purge its source, record its transfer), oldest batch first. */
export async function completeStep(h: StepHost, m: MigrationRecord): Promise<boolean> {
  const batch = (await h.store.batches(m.id, ['completing', 'cut-over']))[0];
  if (!batch) {
    await h.store.setState(m.id, 'completed', { from: ['completing'] });
    h.log(
      `migration ${m.id} completed: the sources are purged and ${await h.store.transferCount(m.id)} transfers recorded`,
    );
    return true;
  }
  const done = await completeBatch(await h.context(batch), m.policy);
  if (!done.ok) await h.fail(m, done);
  return true;
}

/**
 * One batch's roll-back, newest batch first: a batch left inside a cut-over is settled, a
 * cut-over one is moved back (nothing written at the destination lost), and one not cut
 * over has its copy discarded. A batch already being completed has no source left to go to.
 */
export async function rollbackStep(h: StepHost, m: MigrationRecord): Promise<boolean> {
  const open = (await h.store.batches(m.id))
    .filter((b) => b.step !== 'rolled-back' && b.step !== 'completed')
    .reverse();
  const batch = open[0];
  if (!batch) {
    await h.store.setState(m.id, 'rolled-back', { from: ['rolling-back'] });
    h.log(`migration ${m.id} rolled back`);
    return true;
  }
  const ctx = await h.context(batch);
  let result: PhaseResult<unknown>;
  if (batch.step === 'cutting-over' || batch.step === 'rolling-back') result = await settleBatch(ctx);
  else if (batch.step === 'cut-over') result = await rollbackCutOver(ctx);
  else if (batch.step === 'completing')
    result = {
      ok: false,
      error: new DomicileError(
        'CONFLICT',
        `batch ${batch.id} was being completed: its source is purged, so it cannot be rolled back`,
      ),
    };
  else result = await discardCopy(ctx);
  if (!result.ok) await h.fail(m, result);
  return true;
}
