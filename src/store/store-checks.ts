import { DomicileError } from '../errors/domicile-error.js';
import type { RecordImport, Tenancy, TenancyStatus } from './region-store.js';

/*
 * The checks every RegionStore backend makes inside its transactions, and their errors: one
 * place, so SQLite and PostgreSQL refuse the same things with the same codes and details.
 */

export function checkVersion(
  req: { userId: string; service: string; collection: string; key: string; ifVersion?: number | undefined },
  current: number,
): void {
  if (req.ifVersion !== undefined && req.ifVersion !== current) {
    const state = current === 0 ? 'does not exist' : `is at version ${current}`;
    throw new DomicileError(
      'CONFLICT',
      `record ${req.service}/${req.collection}/${req.key} of user ${req.userId} ${state}, not version ${req.ifVersion}: read it again and retry`,
      {
        details: { version: current },
      },
    );
  }
}

export function staleTenancy(t: Tenancy, stored: number): DomicileError {
  return new DomicileError(
    'STALE_EPOCH',
    `user ${t.userId} is at epoch ${stored} for service ${t.service} in this region; an epoch never goes back (asked: ${t.epoch})`,
    {
      details: { epoch: stored, service: t.service },
    },
  );
}

export function liveTenancy(userId: string, service: string, status: TenancyStatus, what: string): DomicileError {
  const why = status === 'home' ? 'this region is their home' : 'they are being cut over from this region';
  return new DomicileError(
    'CONFLICT',
    `cannot ${what} user ${userId}'s ${service} data here: ${why} (tenancy ${status})`,
    {
      details: { status, service },
    },
  );
}

/** A record named twice in one import has no single state to end in: refused before anything changes. */
export function checkImportNames(b: RecordImport): void {
  // Keys per collection: unambiguous whatever the names hold, and no string built per record.
  const seen = new Map<string, Set<string>>();
  for (const r of [...b.puts, ...b.deletes]) {
    let keys = seen.get(r.collection);
    if (!keys) seen.set(r.collection, (keys = new Set()));
    if (keys.has(r.key)) {
      throw new DomicileError(
        'BAD_REQUEST',
        `record ${b.service}/${r.collection}/${r.key} of user ${b.userId} is named twice in one import`,
        {
          details: { field: 'states', collection: r.collection, key: r.key },
        },
      );
    }
    keys.add(r.key);
  }
}

export function erasedUser(userId: string, what: string): DomicileError {
  return new DomicileError(
    'CONFLICT',
    `cannot ${what} user ${userId} here: the user was erased (a data subject request), and nothing of theirs may rest here again`,
    {
      details: { erased: true, userId },
    },
  );
}
