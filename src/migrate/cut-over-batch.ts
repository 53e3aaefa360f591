import { applyChanges, readChangePage } from './apply-changes.js';
import { describeBatch, failed, succeeded, type BatchContext, type PhaseResult } from './batch-context.js';
import { batchTargets } from './catch-up-batch.js';
import { checkHomes, flipHomes, setTenancies } from './flip-homes.js';
import { settleBatch } from './settle-batch.js';
import { batchDigest, compareUsers, refusedCutOver, type PreVerified } from './verify-batch.js';

export interface CutOverOptions {
  /** Digest every user again under the fence, not only those that changed since the verify. */
  fullVerify: boolean;
}

/**
 * Cut-over, for one batch; other users are never blocked:
 * 1. fence the batch in the source at its epoch (its writes are refused from then on),
 * 2. drain the source's remaining changes of the batch into the destination,
 * 3. verify again: the users that changed since the verify (or every user with fullVerify);
 *    a difference unfences the batch and refuses the cut-over,
 * 4. record the destination's log position (reverse replication starts there),
 * 5. make the destination home at epoch + 1, flip the directory (compare-and-set),
 * 6. mark the source 'moved' (a stale request there learns where the user went).
 * The pause the users see is from the fence to the last flip; a request meanwhile is retried
 * by the gateway. A crash inside is settled on restart by settleBatch.
 */
export async function cutOverBatch(ctx: BatchContext, pre: PreVerified, options: CutOverOptions): Promise<PhaseResult<{ pauseMs: number }>> {
  const { batch, store, source, destination, users } = ctx;
  const { service } = batch;
  try {
    await checkHomes(ctx.directory, service, users, batch.source, 0);
    store.updateBatch(batch.migrationId, batch.id, { step: 'cutting-over', cutOverPhase: 'fencing' });
  } catch (err) {
    return failed(err, `cut-over of ${describeBatch(batch)} failed before the fence`);
  }
  const started = performance.now();
  try {
    await setTenancies(source, service, users, 0, 'fenced');

    const targets = batchTargets(ctx, 0);
    const touched = new Set<string>();
    let seq = store.batch(batch.migrationId, batch.id)?.catchUpSeq ?? batch.copySeq ?? 0;
    for (let more = true; more;) {
      const page = await readChangePage(source, seq, service, 5_000);
      const applied = await applyChanges({ from: source, to: destination, service, targets, changes: page.changes });
      for (const c of page.changes) if (c.seq > pre.verifiedAt && targets.has(c.userId)) touched.add(c.userId);
      ctx.meter.record(applied.rows, applied.bytes);
      seq = page.next;
      more = page.more;
    }
    store.updateBatch(batch.migrationId, batch.id, { catchUpSeq: seq });
    await ctx.fault('inside-cut-over');

    const check = options.fullVerify ? users.map((u) => u.userId) : users.map((u) => u.userId).filter((id) => touched.has(id) || pre.unsettled.has(id) || !pre.digests.has(id));
    const cmp = await compareUsers(source, destination, service, check);
    if (cmp.mismatches.length > 0) {
      await setTenancies(source, service, users, 0, 'home');
      store.updateBatch(batch.migrationId, batch.id, {
        step: 'failed', failedStep: 'cutting-over', cutOverPhase: null, mismatches: cmp.mismatches,
        error: `verification under the fence found ${cmp.mismatches.length} differing record(s); the cut-over was refused and the users unfenced`,
      });
      return refusedCutOver(batch, cmp.mismatches);
    }
    const digests = new Map(pre.digests);
    for (const [userId, d] of cmp.digests) digests.set(userId, d);
    const { digest, records } = batchDigest(digests);
    const reverseSeq = (await destination.health()).lastSeq;
    store.updateBatch(batch.migrationId, batch.id, { cutOverPhase: 'flipping', reverseSeq, digest, records });

    await setTenancies(destination, service, users, 1, 'home');
    await flipHomes(ctx.directory, service, users, batch.destination, 0);
    const pauseMs = performance.now() - started;
    await ctx.fault('after-flip');
    await setTenancies(source, service, users, 1, 'moved', batch.destination);
    store.updateBatch(batch.migrationId, batch.id, { step: 'cut-over', cutOverPhase: null, pauseMs });
    return succeeded({ pauseMs });
  } catch (err) {
    // Never leave users fenced: undo a cut-over that had not verified, finish one that had.
    const current = store.batch(batch.migrationId, batch.id);
    const settled = current ? await settleBatch({ ...ctx, batch: current }) : undefined;
    if (settled?.ok && store.batch(batch.migrationId, batch.id)?.step === 'cut-over') return succeeded({ pauseMs: performance.now() - started });
    const outcome = settled?.ok ? ` (${settled.value})` : settled ? `; settling it failed too: ${settled.error.message}` : '';
    return failed(err, `cut-over of ${describeBatch(batch)} failed${outcome}`);
  }
}
