import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';
import { flipHomes, setTenancies } from './flip-homes.js';
import { recordTransfer } from './record-transfer.js';

/**
 * Settles a batch that a crash (or a failure) left inside a cut-over or inside the cut-over
 * of a rollback, so that no user stays fenced while nobody runs the migration:
 * - forward, 'fencing' (fenced, not verified, nothing flipped): undo; the source serves
 *   again at the old epoch and the batch is caught up again later;
 * - forward, 'flipping' (verified, the destination made home): finish the flips;
 * - rollback, 'fencing': undo; the destination serves again;
 * - rollback, 'flipping': finish it, and purge the destination.
 * Every action sets a state, so settling twice is settling once.
 */
export async function settleBatch(ctx: BatchContext): Promise<PhaseResult<string>> {
  const { batch, store, source, destination, users } = ctx;
  const { service } = batch;
  try {
    if (batch.step === 'cutting-over') {
      if (batch.cutOverPhase === 'flipping') {
        await setTenancies(destination, service, users, 1, 'home');
        await flipHomes(ctx.directory, service, users, batch.destination, 0);
        await setTenancies(source, service, users, 1, 'moved', batch.destination);
        await store.updateBatch(batch.migrationId, batch.id, { step: 'cut-over', cutOverPhase: null });
        return succeeded('finished its cut-over');
      }
      await setTenancies(source, service, users, 0, 'home');
      await setTenancies(destination, service, users, 0, 'incoming');
      await store.updateBatch(batch.migrationId, batch.id, { step: 'catching-up', cutOverPhase: null });
      return succeeded('undid its cut-over: the source serves the users again');
    }
    if (batch.step === 'rolling-back') {
      if (batch.cutOverPhase === 'flipping') {
        await setTenancies(source, service, users, 2, 'home');
        await flipHomes(ctx.directory, service, users, batch.source, 1);
        await setTenancies(destination, service, users, 2, 'moved', batch.source);
        await destination.purgeUsers({ service, userIds: users.map((u) => u.userId), reason: 'migration-rollback' });
        await recordTransfer(
          ctx,
          'rolled-back',
          { records: batch.records, bytes: batch.bytes, digest: batch.digest ?? '' },
          ctx.policy,
        );
        await store.updateBatch(batch.migrationId, batch.id, { step: 'rolled-back', cutOverPhase: null });
        return succeeded('finished its roll-back');
      }
      await setTenancies(destination, service, users, 1, 'home');
      await store.updateBatch(batch.migrationId, batch.id, { step: 'cut-over', cutOverPhase: null });
      return succeeded('undid the start of its roll-back: the destination serves the users again');
    }
    return succeeded('nothing to settle');
  } catch (err) {
    return failed(err, `settling ${describeBatch(batch)} failed`);
  }
}
