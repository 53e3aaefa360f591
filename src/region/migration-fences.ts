import { DomicileError } from '../errors/domicile-error.js';
import { KeyedLock } from '../shared/keyed-lock.js';
import type { RegionStore } from '../store/region-store.js';
import type { Fence } from './region-client.js';

/**
 * A region's side of the migration coordinator's fencing tokens. Each migration primitive that
 * carries a fence is admitted first, and refused with STALE_LEADER when its token is older than
 * the newest seen for the migration:
 * - one that changes anything (an import, a tenancy, a purge, an audit event) and a raise ask
 *   the store, which keeps the newest token per migration for every node of a pool sharing it;
 * - a read with the newest token this node has admitted is let through at once, beside others
 *   (a deposed leader's read changes nothing, and asking the store would cost a round trip per
 *   read of a catch-up); any other read is admitted as a change is.
 * Within a node, a migration's admissions through the store and the primitives they admit run
 * one at a time, so a newer leader's raise waits for an admitted change of its predecessor to
 * finish: none of the old leader's lands after the new one has acted here.
 */
export class MigrationFences {
  private readonly running = new KeyedLock();
  /** Per migration, the newest token this node has admitted. */
  private readonly newest = new Map<string, number>();

  constructor(
    private readonly regionId: string,
    private readonly store: RegionStore,
  ) {}

  /** Runs a primitive under its fence (at once, when it carries none: it is no migration's). */
  run<T>(fence: Fence | undefined, kind: 'reads' | 'changes', primitive: () => Promise<T>): Promise<T> {
    if (fence === undefined) return primitive();
    const newest = this.newest.get(fence.migration) ?? 0;
    if (kind === 'reads' && newest >= fence.token) {
      // The common read (the newest token, known here): admitted at once, and run beside others.
      this.check(fence, newest);
      return primitive();
    }
    return this.running.run(fence.migration, async () => {
      await this.admit(fence);
      return primitive();
    });
  }

  /** Raises the migration's token here (a new leader's first act), after its admitted primitives. */
  raise(fence: Fence): Promise<{ token: number }> {
    return this.run(fence, 'changes', async () => ({ token: fence.token }));
  }

  private async admit(fence: Fence): Promise<void> {
    const known = this.newest.get(fence.migration) ?? 0;
    if (known > fence.token) return this.check(fence, known);
    const newest = await this.store.admitFence(fence.migration, fence.token);
    this.newest.set(fence.migration, newest);
    this.check(fence, newest);
  }

  private check(fence: Fence, newest: number): void {
    if (newest <= fence.token) return;
    throw new DomicileError(
      'STALE_LEADER',
      `region ${this.regionId} refuses migration ${fence.migration}'s step: it comes from a coordinator whose lead (token ${fence.token}) another coordinator has taken since (token ${newest}); the newer leader runs the migration`,
      { details: { migration: fence.migration, token: fence.token, newest } },
    );
  }
}
