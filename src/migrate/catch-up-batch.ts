import { type ApplyTarget, applyChanges, readChangePage } from './apply-changes.js';
import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';

export interface CatchUpOptions {
  /** Changes read per page of the source's log. */
  pageSize: number;
  /** The catch-up is done when a round applies at most this many records and the log is read to its end. */
  smallLag: number;
  /** Rounds at most: under a heavy writer the cut-over's drain takes the rest. */
  maxRounds: number;
}

export const defaultCatchUp: CatchUpOptions = { pageSize: 2_000, smallLag: 8, maxRounds: 200 };

export function batchTargets(ctx: BatchContext, epochOffset: number): Map<string, ApplyTarget> {
  return new Map(ctx.users.map((u) => [u.userId, { market: u.market, epoch: u.epoch + epochOffset }]));
}

/**
 * Catch-up: tails the source's change log from the copy's position, and applies to the
 * destination the current state of every record the batch's users changed, until the lag is
 * small. The position is recorded after each applied page, so a restart goes on from there.
 * Returns early (not done) when an operator pauses or rolls back.
 */
export async function catchUpBatch(
  ctx: BatchContext,
  options: CatchUpOptions = defaultCatchUp,
): Promise<PhaseResult<{ seq: number; done: boolean }>> {
  const { batch, store } = ctx;
  const targets = batchTargets(ctx, 0);
  let seq = batch.catchUpSeq ?? batch.copySeq ?? 0;
  try {
    for (let round = 0; round < options.maxRounds; round++) {
      const page = await readChangePage(ctx.source, seq, batch.service, options.pageSize);
      // Not rate-capped: the cap throttles the copy; catch-up carries what the users already
      // wrote, and capped below their write rate it could never catch up.
      const applied = await applyChanges({
        from: ctx.source,
        to: ctx.destination,
        service: batch.service,
        targets,
        changes: page.changes,
      });
      ctx.meter.record(applied.rows, applied.bytes);
      await ctx.fault('mid-catch-up');
      seq = page.next;
      await store.updateBatch(batch.migrationId, batch.id, { catchUpSeq: seq });
      ctx.meter.catchUpLag = Math.max(0, page.head - seq);
      if (!page.more && applied.rows <= options.smallLag) return succeeded({ seq, done: true });
      if (await ctx.stopRequested()) return succeeded({ seq, done: false });
    }
    return succeeded({ seq, done: true });
  } catch (err) {
    return failed(err, `catch-up of ${describeBatch(batch)} failed`);
  }
}
