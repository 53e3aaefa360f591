import { jsonBytes } from './apply-changes.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';
import { describeBatch, failed, succeeded, type BatchContext, type PhaseResult } from './batch-context.js';

/** Users exported per call: bounds the plaintext a copy holds in memory at once. */
const usersPerExport = 10;

/**
 * Copy: the source exports the batch's records (decrypting them in the source), and the
 * destination imports them under fresh keys of its own; no key material crosses. The source's
 * change-log position is read before the first export and recorded, so the catch-up that
 * follows sees every change the export might have missed. Redoing it after a crash imports
 * the same state again, which changes nothing.
 */
export async function copyBatch(ctx: BatchContext): Promise<PhaseResult<{ records: number; bytes: number }>> {
  const { batch, source, destination, store } = ctx;
  try {
    let copySeq = batch.copySeq;
    if (copySeq === null) {
      copySeq = (await source.health()).lastSeq;
      store.updateBatch(batch.migrationId, batch.id, { copySeq, catchUpSeq: copySeq });
    }
    let records = 0;
    let bytes = 0;
    for (let i = 0; i < ctx.users.length; i += usersPerExport) {
      const chunk = ctx.users.slice(i, i + usersPerExport);
      const exported = new Map((await source.exportUsers({ service: batch.service, userIds: chunk.map((u) => u.userId) })).map((e) => [e.userId, e]));
      for (const user of chunk) {
        const rows = exported.get(user.userId)?.records ?? [];
        // 'incoming': the destination holds the user's data but answers FENCED until the cut-over.
        await destination.setTenancy({ userId: user.userId, service: batch.service, market: user.market, epoch: user.epoch, status: 'incoming', movedTo: null });
        await ctx.limiter.take(rows.length);
        await destination.importRecords({ service: batch.service, userId: user.userId, market: user.market, epoch: user.epoch, states: { records: rows, deleted: [] } });
        const size = rows.reduce((n, r) => n + jsonBytes(r.value), 0);
        records += rows.length;
        bytes += size;
        ctx.meter.record(rows.length, size, 1);
        await yieldToEventLoop();
      }
    }
    await ctx.fault('after-copy-batch');
    store.updateBatch(batch.migrationId, batch.id, { step: 'catching-up', records, bytes });
    return succeeded({ records, bytes });
  } catch (err) {
    return failed(err, `copy of ${describeBatch(batch)} failed`);
  }
}
