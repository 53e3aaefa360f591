import { DomicileError } from '../errors/domicile-error.js';
import type { Tenancy } from './region-store.js';

/**
 * The one check every backend (and the region node, for reads) makes before serving a user:
 * the tenancy must be this region's home at the caller's epoch. Kept in one place so that
 * SQLite, PostgreSQL and the node answer with the same codes and details.
 *
 * - no tenancy, or 'moved' → WRONG_REGION, details { home: movedTo | null }
 * - 'fenced' (the source during a cut-over) or 'incoming' (the destination before it) → FENCED:
 *   the move ends in milliseconds, so the caller retries. Reads are refused too: once the
 *   destination takes writes, a fenced source is a stale copy.
 * - epoch differs → STALE_EPOCH, details { epoch: the region's }
 */
export function checkTenancy(tenancy: Tenancy | undefined, userId: string, service: string, epoch: number): Tenancy {
  if (tenancy === undefined || tenancy.status === 'moved') {
    const home = tenancy?.movedTo ?? null;
    const where = home === null ? '' : `; it moved to ${home}`;
    throw new DomicileError('WRONG_REGION', `this region does not home user ${userId} for service ${service}${where}`, {
      details: { home, service },
    });
  }
  if (tenancy.status === 'incoming') {
    throw new DomicileError(
      'FENCED',
      `user ${userId} is moving here for service ${service} and is not served yet; retry shortly`,
      {
        details: { service },
      },
    );
  }
  if (tenancy.epoch !== epoch) {
    throw new DomicileError(
      'STALE_EPOCH',
      `user ${userId} is served for service ${service} at epoch ${tenancy.epoch}, not ${epoch}: look the home up again`,
      {
        details: { epoch: tenancy.epoch, service },
      },
    );
  }
  if (tenancy.status === 'fenced') {
    throw new DomicileError('FENCED', `user ${userId} is being moved for service ${service}; retry shortly`, {
      details: { service },
    });
  }
  return tenancy;
}
