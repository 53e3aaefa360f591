import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';
import { recordTransfer } from './record-transfer.js';

/**
 * Complete: the source shreds the moved users' keys for the service and deletes every row that
 * names them there (records, keys, change-log entries, tenancies: the directory says where
 * they live now, and the source answers WRONG_REGION as for anyone it does not know), and the
 * transfer is recorded:
 * users, service, from, to, policy version, counts and the digest verified at the cut-over.
 * Purging twice purges nothing more, and the transfer is recorded once per batch, so a
 * restart simply does it again.
 */
export async function completeBatch(
  ctx: BatchContext,
  policy: { name: string; version: number },
): Promise<PhaseResult<{ purged: number }>> {
  const { batch, store, source } = ctx;
  try {
    await store.updateBatch(batch.migrationId, batch.id, { step: 'completing' });
    const userIds = ctx.users.map((u) => u.userId);
    const { records: purged } = await source.purgeUsers({ service: batch.service, userIds });
    await ctx.fault('inside-complete');
    await recordTransfer(
      ctx,
      'completed',
      { records: batch.records, bytes: batch.bytes, digest: batch.digest ?? '' },
      policy,
    );
    await store.insertTransfer({
      migrationId: batch.migrationId,
      batchId: batch.id,
      service: batch.service,
      from: batch.source,
      to: batch.destination,
      policy,
      users: userIds,
      records: batch.records,
      bytes: batch.bytes,
      digest: batch.digest ?? '',
      completedAt: Date.now(),
    });
    await store.updateBatch(batch.migrationId, batch.id, { step: 'completed' });
    return succeeded({ purged });
  } catch (err) {
    return failed(err, `completing ${describeBatch(batch)} failed`);
  }
}
