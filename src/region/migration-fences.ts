import { DomicileError } from '../errors/domicile-error.js';
import { KeyedLock } from '../shared/keyed-lock.js';
import type { RegionStore } from '../store/region-store.js';
import type { Fence } from './region-client.js';

/**
 * A region's side of the migration coordinator's fencing tokens. Each migration primitive that
 * carries a fence is admitted first: the store raises the newest token seen for the migration
 * (atomically, so every node of a pool sharing the store agrees) and refuses an older one with
 * STALE_LEADER. Within a node, a migration's fenced primitives run one at a time, from their
 * admission to their end, so a newer leader's raise waits for an admitted primitive of its
 * predecessor to finish: none of the old leader's lands after the new one has acted here.
 */
export class MigrationFences {
  private readonly running = new KeyedLock();

  constructor(
    private readonly regionId: string,
    private readonly store: RegionStore,
  ) {}

  /** Runs a primitive under its fence (at once, when it carries none: it is no migration's). */
  run<T>(fence: Fence | undefined, primitive: () => Promise<T>): Promise<T> {
    if (fence === undefined) return primitive();
    return this.running.run(fence.migration, async () => {
      await this.admit(fence);
      return primitive();
    });
  }

  /** Raises the migration's token here (a new leader's first act), after its admitted primitives. */
  raise(fence: Fence): Promise<{ token: number }> {
    return this.run(fence, async () => ({ token: fence.token }));
  }

  private async admit(fence: Fence): Promise<void> {
    const newest = await this.store.admitFence(fence.migration, fence.token);
    if (newest > fence.token) {
      throw new DomicileError(
        'STALE_LEADER',
        `region ${this.regionId} refuses migration ${fence.migration}'s step: it comes from a coordinator whose lead (token ${fence.token}) another coordinator has taken since (token ${newest}); the newer leader runs the migration`,
        { details: { migration: fence.migration, token: fence.token, newest } },
      );
    }
  }
}
