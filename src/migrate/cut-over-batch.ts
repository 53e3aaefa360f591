import { applyChanges, readChangePage } from './apply-changes.js';
import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';
import { batchTargets } from './catch-up-batch.js';
import { checkHomes, flipHomes, setTenancies } from './flip-homes.js';
import type { RecordMismatch } from './migration-types.js';
import { settleBatch } from './settle-batch.js';
import { batchDigest, refKey, rowsOfDigest, type VerifiedRows } from './verified-rows.js';
import { compareUsers, type PreVerified, refusedCutOver } from './verify-batch.js';
import { verifyRecords } from './verify-records.js';

export interface CutOverOptions {
  /** Digest every user again under the fence, not only those that changed since the verify. */
  fullVerify: boolean;
}

/**
 * Cut-over, for one batch; other users are never blocked:
 * 1. fence the batch in the source at its epoch (its writes are refused from then on),
 * 2. drain the source's remaining changes of the batch into the destination,
 * 3. verify again: the records that changed since the live verify (or every user's digest
 *    with fullVerify); a difference unfences the batch and refuses the cut-over,
 * 4. record the destination's log position (reverse replication starts there),
 * 5. make the destination home at epoch + 1, flip the directory (compare-and-set),
 * 6. mark the source 'moved' (a stale request there learns where the user went).
 * The pause the users see is from the fence to the last flip; a request meanwhile is retried
 * by the gateway. A crash inside is settled on restart by settleBatch.
 */
export async function cutOverBatch(
  ctx: BatchContext,
  pre: PreVerified,
  options: CutOverOptions,
): Promise<PhaseResult<{ pauseMs: number }>> {
  const { batch, store, source, destination, users } = ctx;
  const { service } = batch;
  try {
    await checkHomes(ctx.directory, service, users, batch.source, 0);
    await store.updateBatch(batch.migrationId, batch.id, { step: 'cutting-over', cutOverPhase: 'fencing' });
  } catch (err) {
    return failed(err, `cut-over of ${describeBatch(batch)} failed before the fence`);
  }
  const started = performance.now();
  try {
    await setTenancies(source, service, users, 0, 'fenced');

    const targets = batchTargets(ctx, 0);
    // The records to verify again: those in flight at the live verify, and every one the
    // source changed since (a change after verifiedAt may postdate the digests).
    const recheck = new Map<string, Map<string, { collection: string; key: string }>>(
      [...pre.inFlight].map(([u, refs]) => [u, new Map(refs)]),
    );
    let seq = (await store.batch(batch.migrationId, batch.id))?.catchUpSeq ?? batch.copySeq ?? 0;
    for (let more = true; more; ) {
      const page = await readChangePage(source, seq, service, 5_000);
      const applied = await applyChanges({ from: source, to: destination, service, targets, changes: page.changes });
      for (const c of page.changes) {
        if (c.seq <= pre.verifiedAt || !targets.has(c.userId)) continue;
        const refs = recheck.get(c.userId) ?? new Map<string, { collection: string; key: string }>();
        refs.set(refKey(c.collection, c.key), { collection: c.collection, key: c.key });
        recheck.set(c.userId, refs);
      }
      ctx.meter.record(applied.rows, applied.bytes);
      seq = page.next;
      more = page.more;
    }
    await store.updateBatch(batch.migrationId, batch.id, { catchUpSeq: seq });
    await ctx.fault('inside-cut-over');

    const verified = await verifyUnderFence(ctx, pre, recheck, options.fullVerify);
    if (verified.mismatches.length > 0) {
      await setTenancies(source, service, users, 0, 'home');
      await store.updateBatch(batch.migrationId, batch.id, {
        step: 'failed',
        failedStep: 'cutting-over',
        cutOverPhase: null,
        mismatches: verified.mismatches,
        error: `verification under the fence found ${verified.mismatches.length} differing record(s); the cut-over was refused and the users unfenced`,
      });
      return refusedCutOver(batch, verified.mismatches);
    }
    const { digest, records } = batchDigest(verified.rows);
    const reverseSeq = (await destination.health()).lastSeq;
    await store.updateBatch(batch.migrationId, batch.id, { cutOverPhase: 'flipping', reverseSeq, digest, records });

    await setTenancies(destination, service, users, 1, 'home');
    await flipHomes(ctx.directory, service, users, batch.destination, 0);
    const pauseMs = performance.now() - started;
    await ctx.fault('after-flip');
    await setTenancies(source, service, users, 1, 'moved', batch.destination);
    await store.updateBatch(batch.migrationId, batch.id, { step: 'cut-over', cutOverPhase: null, pauseMs });
    // The copy's hashes served their verification: give the memory back.
    ctx.copied.rows.clear();
    ctx.copied.complete = false;
    return succeeded({ pauseMs });
  } catch (err) {
    // Never leave users fenced: undo a cut-over that had not verified, finish one that had.
    const current = await store.batch(batch.migrationId, batch.id);
    const settled = current ? await settleBatch({ ...ctx, batch: current }) : undefined;
    if (settled?.ok && (await store.batch(batch.migrationId, batch.id))?.step === 'cut-over')
      return succeeded({ pauseMs: performance.now() - started });
    const outcome = settled?.ok
      ? ` (${settled.value})`
      : settled
        ? `; settling it failed too: ${settled.error.message}`
        : '';
    return failed(err, `cut-over of ${describeBatch(batch)} failed${outcome}`);
  }
}

/**
 * The verification under the fence: by default only the records to recheck, on both sides,
 * patched into what the live verify found (users it could not digest are digested whole);
 * with fullVerify, every user's digest again.
 */
async function verifyUnderFence(
  ctx: BatchContext,
  pre: PreVerified,
  recheck: ReadonlyMap<string, ReadonlyMap<string, { collection: string; key: string }>>,
  fullVerify: boolean,
): Promise<{ mismatches: RecordMismatch[]; rows: VerifiedRows }> {
  const { source, destination, batch, users } = ctx;
  const whole = users.map((u) => u.userId).filter((id) => fullVerify || !pre.rows.has(id));
  const full = await compareUsers(source, destination, batch.service, whole, ctx.copied.digestKey);
  const rows: VerifiedRows = new Map();
  for (const [userId, user] of pre.rows) rows.set(userId, new Map(user));
  for (const [userId, digest] of full.digests) rows.set(userId, rowsOfDigest(digest));
  const partial = new Map([...recheck].filter(([userId]) => !whole.includes(userId)));
  const checked = await verifyRecords(source, destination, batch.service, partial, ctx.copied.digestKey);
  for (const [userId, changed] of checked.rows) {
    const user = rows.get(userId) ?? new Map();
    for (const [id, row] of changed) {
      if (row === null) user.delete(id);
      else user.set(id, row);
    }
    rows.set(userId, user);
  }
  return { mismatches: [...full.mismatches, ...checked.mismatches], rows };
}
