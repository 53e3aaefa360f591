import type { BatchContext } from './batch-context.js';

/**
 * Records a batch's cross-border transfer in both regions' audit logs (invariant 6), once per
 * stage: the event's id names the migration, the batch and the stage, so a step redone after a
 * crash records nothing twice.
 */
export async function recordTransfer(
  ctx: BatchContext,
  stage: 'copied' | 'completed' | 'rolled-back',
  counts: { records: number; bytes: number; digest: string },
  policy: { name: string; version: number },
): Promise<void> {
  const { batch } = ctx;
  const transfer = {
    type: 'transfer' as const,
    migration: batch.migrationId,
    batch: batch.id,
    service: batch.service,
    from: batch.source,
    to: batch.destination,
    users: ctx.users.map((u) => u.userId),
    records: counts.records,
    bytes: counts.bytes,
    digest: counts.digest,
    policy,
    stage,
  };
  const id = `transfer:${batch.migrationId}/${batch.id}:${stage}`;
  await ctx.source.recordEvents({ events: [{ id, event: { ...transfer, role: 'source' } }] });
  await ctx.destination.recordEvents({ events: [{ id, event: { ...transfer, role: 'destination' } }] });
}
