import type { ExportedRecord, UserImport } from '../region/region-client.js';
import { bytesPerImport, framingBytes } from './apply-changes.js';
import { type BatchContext, describeBatch, failed, type PhaseResult, succeeded } from './batch-context.js';
import type { BatchMover } from './coordinator-store.js';
import { setTenancies } from './flip-homes.js';
import { recordTransfer } from './record-transfer.js';
import { refKey, type VerifiedRow } from './verified-rows.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

/**
 * Users exported and imported per call: each call is one transaction in each region. The
 * source exports the next chunk while the destination imports this one, so a copy holds at
 * most two chunks' plaintext in memory (2 × 16 users × their records).
 */
const usersPerCall = 16;

/**
 * The imports of a chunk of users, in calls that fit a region server's body limit whatever the
 * records' sizes: a user with more than a call holds is imported over several (each call is
 * idempotent, and the copy is verified whole afterwards).
 */
export function importCalls(
  users: readonly BatchMover[],
  exported: ReadonlyMap<string, ExportedRecord[]>,
): UserImport[][] {
  const calls: UserImport[][] = [];
  let call: UserImport[] = [];
  let callBytes = 0;
  const push = (u: BatchMover, records: ExportedRecord[]) =>
    call.push({ userId: u.userId, market: u.market, epoch: u.epoch, states: { records, deleted: [] } });
  for (const u of users) {
    let records: ExportedRecord[] = [];
    for (const r of exported.get(u.userId) ?? []) {
      const size = r.bytes + framingBytes;
      if (callBytes + size > bytesPerImport && (records.length > 0 || call.length > 0)) {
        if (records.length > 0) push(u, records);
        calls.push(call);
        call = [];
        records = [];
        callBytes = 0;
      }
      records.push(r);
      callBytes += size;
    }
    // A user with no records still gets an (empty) import: its tenancy is made 'incoming'.
    if (records.length > 0 || !call.some((c) => c.userId === u.userId)) push(u, records);
  }
  if (call.length > 0) calls.push(call);
  return calls;
}

/**
 * Copy: the source exports the batch's records (decrypting them in the source), and the
 * destination imports them under fresh keys of its own; no key material crosses. The source's
 * change-log position is read before the first export and recorded, so the catch-up that
 * follows sees every change the export might have missed. What the source exported (each
 * record's version and plaintext hash, as the source computed them) is kept in ctx.copied for
 * the verification. Redoing it after a crash imports the same state again, which changes
 * nothing.
 */
export async function copyBatch(ctx: BatchContext): Promise<PhaseResult<{ records: number; bytes: number }>> {
  const { batch, source, destination, store, copied } = ctx;
  const { service } = batch;
  try {
    let copySeq = batch.copySeq;
    if (copySeq === null) {
      copySeq = (await source.health()).lastSeq;
      await store.updateBatch(batch.migrationId, batch.id, { copySeq, catchUpSeq: copySeq });
    }
    copied.rows.clear();
    copied.complete = false;
    let records = 0;
    let bytes = 0;
    const chunks: BatchMover[][] = [];
    for (let i = 0; i < ctx.users.length; i += usersPerCall) chunks.push(ctx.users.slice(i, i + usersPerCall));
    const exportChunk = async (chunk: readonly BatchMover[]) =>
      new Map(
        (await source.exportUsers({ service, userIds: chunk.map((u) => u.userId), digestKey: copied.digestKey })).map(
          (e) => [e.userId, e.records],
        ),
      );
    let ahead = chunks.length > 0 ? exportChunk(chunks[0]!) : undefined;
    for (const [c, chunk] of chunks.entries()) {
      const exported = await ahead!;
      // The next chunk's export runs while this one is imported; a failure here leaves it to be
      // dropped (the copy fails, and is redone whole).
      ahead = c + 1 < chunks.length ? exportChunk(chunks[c + 1]!) : undefined;
      ahead?.catch(() => undefined);
      // 'incoming': the destination holds the users' data but answers FENCED until the cut-over.
      await setTenancies(destination, service, chunk, 0, 'incoming');
      let rows = 0;
      let size = 0;
      for (const user of chunk) {
        const userRows = new Map<string, VerifiedRow>();
        for (const r of exported.get(user.userId) ?? []) {
          userRows.set(refKey(r.collection, r.key), {
            collection: r.collection,
            key: r.key,
            version: r.version,
            hash: r.hash,
          });
          rows++;
          size += r.bytes;
        }
        copied.rows.set(user.userId, userRows);
      }
      await ctx.limiter.take(rows);
      for (const users of importCalls(chunk, exported)) await destination.importUsers({ service, users });
      records += rows;
      bytes += size;
      ctx.meter.record(rows, size, chunk.length);
      await yieldToEventLoop();
    }
    copied.complete = true;
    // The data has crossed: recorded now, whether the batch is later completed or discarded.
    await recordTransfer(ctx, 'copied', { records, bytes, digest: '' }, ctx.policy);
    await ctx.fault('after-copy-batch');
    await store.updateBatch(batch.migrationId, batch.id, { step: 'catching-up', records, bytes });
    return succeeded({ records, bytes });
  } catch (err) {
    return failed(err, `copy of ${describeBatch(batch)} failed`);
  }
}
