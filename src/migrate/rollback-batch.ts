import { DomicileError } from '../errors/domicile-error.js';
import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';
import { flipHomes, setTenancies } from './flip-homes.js';
import { recordTransfer } from './record-transfer.js';
import { replicateBack } from './reverse-replication.js';
import { settleBatch } from './settle-batch.js';
import { compareUsers, formatMismatches } from './verify-batch.js';

/**
 * Rolls back a batch that was cut over, mirroring the cut-over: fence the users in the
 * destination, drain its remaining changes back into the source, verify both sides, make the
 * source home again at epoch + 2, flip the directory back, mark the destination 'moved' and
 * purge it (tenancy and change log included: the last thing done, so a crash before it is
 * settled by doing the flip's tail again, see settleBatch). Nothing written at the destination is lost. A mismatch unfences the destination
 * and stops (the users stay served where they are).
 */
export async function rollbackCutOver(ctx: BatchContext): Promise<PhaseResult<{ pauseMs: number }>> {
  const { batch, store, source, destination, users } = ctx;
  const { service } = batch;
  const started = performance.now();
  try {
    await store.updateBatch(batch.migrationId, batch.id, { step: 'rolling-back', cutOverPhase: 'fencing' });
    await setTenancies(destination, service, users, 1, 'fenced');
    await replicateBack({
      store,
      batches: [batch],
      movers: () => users,
      region: (id) => (id === batch.source ? source : destination),
    });
    const cmp = await compareUsers(
      destination,
      source,
      service,
      users.map((u) => u.userId),
      ctx.copied.digestKey,
    );
    if (cmp.mismatches.length > 0) {
      await setTenancies(destination, service, users, 1, 'home');
      await store.updateBatch(batch.migrationId, batch.id, {
        step: 'cut-over',
        cutOverPhase: null,
        error: `roll-back refused: ${formatMismatches(cmp.mismatches)}`,
      });
      return failed(
        new DomicileError(
          'INTEGRITY',
          `the source does not hold what the destination does (${formatMismatches(cmp.mismatches)}); the destination serves the users again`,
        ),
        `roll-back of ${describeBatch(batch)} refused`,
        cmp.mismatches,
      );
    }
    await store.updateBatch(batch.migrationId, batch.id, { cutOverPhase: 'flipping' });
    await setTenancies(source, service, users, 2, 'home');
    await flipHomes(ctx.directory, service, users, batch.source, 1);
    const pauseMs = performance.now() - started;
    await setTenancies(destination, service, users, 2, 'moved', batch.source);
    await destination.purgeUsers({ service, userIds: users.map((u) => u.userId), reason: 'migration-rollback' });
    await recordTransfer(
      ctx,
      'rolled-back',
      { records: batch.records, bytes: batch.bytes, digest: batch.digest ?? '' },
      ctx.policy,
    );
    await store.updateBatch(batch.migrationId, batch.id, {
      step: 'rolled-back',
      cutOverPhase: null,
      rollbackPauseMs: pauseMs,
    });
    return succeeded({ pauseMs });
  } catch (err) {
    // Never leave users fenced: undo a roll-back that had not verified, finish one that had.
    const current = await store.batch(batch.migrationId, batch.id);
    const settled = current ? await settleBatch({ ...ctx, batch: current }) : undefined;
    const outcome = settled?.ok
      ? ` (${settled.value})`
      : settled
        ? `; settling it failed too: ${settled.error.message}`
        : '';
    return failed(err, `roll-back of ${describeBatch(batch)} failed${outcome}`);
  }
}

/**
 * Rolls back a batch that was not cut over: the source still serves its users, so the
 * destination's imported copy is discarded: its tenancy is marked 'moved' back to the source
 * (nothing serves it meanwhile), then everything naming the users there is purged, tenancy
 * included. Repeated after a crash, it marks and purges again.
 */
export async function discardCopy(ctx: BatchContext): Promise<PhaseResult<{ purged: number }>> {
  const { batch, store, destination, users } = ctx;
  try {
    await setTenancies(destination, batch.service, users, 0, 'moved', batch.source);
    const { records: purged } = await destination.purgeUsers({
      service: batch.service,
      userIds: users.map((u) => u.userId),
      reason: 'migration-rollback',
    });
    await store.updateBatch(batch.migrationId, batch.id, { step: 'rolled-back', cutOverPhase: null });
    return succeeded({ purged });
  } catch (err) {
    return failed(err, `discarding the copy of ${describeBatch(batch)} failed`);
  }
}
