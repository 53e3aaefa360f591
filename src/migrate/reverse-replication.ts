import type { RegionClient } from '../region/region-client.js';
import { type ApplyTarget, applyChanges, readChangePage } from './apply-changes.js';
import type { BatchMover, BatchRecord, CoordinatorStore } from './coordinator-store.js';
import type { RateLimiter } from './rate-limiter.js';

export interface ReverseInput {
  store: CoordinatorStore;
  /** Cut-over batches whose destination's changes flow back to their source. */
  batches: readonly BatchRecord[];
  movers: (batch: BatchRecord) => BatchMover[] | Promise<BatchMover[]>;
  region: (id: string) => RegionClient;
  limiter?: RateLimiter | undefined;
  pageSize?: number;
}

/**
 * Reverse replication: after a cut-over and until `complete`, every change the moved users
 * make in their new home is applied back to the source (which keeps their data, as 'moved'),
 * so a rollback loses nothing written at the destination. One pass reads each route's
 * destination log from the oldest checkpoint of its batches to the end; a change is applied
 * only past its own batch's checkpoint, and the checkpoints move once the page is applied.
 * Returns the rows applied and how far behind the logs the pass left off.
 */
export async function replicateBack(input: ReverseInput): Promise<{ rows: number; lag: number }> {
  const routes = new Map<string, BatchRecord[]>();
  for (const b of input.batches) {
    if (b.reverseSeq === null) continue;
    const id = `${b.service}\u0000${b.source}\u0000${b.destination}`;
    routes.set(id, [...(routes.get(id) ?? []), b]);
  }
  let rows = 0;
  let lag = 0;
  for (const batches of routes.values()) {
    const first = batches[0]!;
    const from = input.region(first.destination);
    const to = input.region(first.source);
    const targets = new Map<string, ApplyTarget>();
    for (const b of batches) {
      // The source keeps the users as 'moved' at the new epoch.
      for (const u of await input.movers(b))
        targets.set(u.userId, { market: u.market, epoch: u.epoch + 1, afterSeq: b.reverseSeq ?? 0 });
    }
    let seq = Math.min(...batches.map((b) => b.reverseSeq ?? 0));
    for (let more = true; more; ) {
      const page = await readChangePage(from, seq, first.service, input.pageSize ?? 2_000);
      const applied = await applyChanges({
        from,
        to,
        service: first.service,
        targets,
        changes: page.changes,
        limiter: input.limiter,
      });
      rows += applied.rows;
      if (page.next > seq) {
        await input.store.advanceReverse(
          first.migrationId,
          batches.map((b) => b.id),
          page.next,
        );
        for (const t of targets.values()) t.afterSeq = Math.max(t.afterSeq ?? 0, page.next);
      }
      seq = page.next;
      more = page.more;
      if (!more) lag += Math.max(0, page.head - seq);
    }
  }
  return { rows, lag };
}
