import type { Directory } from '../directory/directory.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { TenancyStatus } from '../store/region-store.js';
import type { RegionClient } from '../region/region-client.js';
import type { BatchMover } from './coordinator-store.js';

/**
 * Sets the tenancy of every user of a batch in one region (fence, unfence, home, moved). The
 * calls overlap (a region that runs as its own process answers them in one round trip's time);
 * each is idempotent, so one that fails is simply set again when the batch is settled.
 */
export async function setTenancies(
  region: RegionClient,
  service: string,
  users: readonly BatchMover[],
  epochOffset: number,
  status: TenancyStatus,
  movedTo: string | null = null,
): Promise<void> {
  const results = await Promise.allSettled(
    users.map((u) => region.setTenancy({ userId: u.userId, service, market: u.market, epoch: u.epoch + epochOffset, status, movedTo })),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

/**
 * Flips the directory home of every user of a batch, compare-and-set on the epoch. A flip
 * that finds the home already where it should be (done before a crash) counts as done;
 * anything else means someone else moved the user, and stops the batch.
 */
export async function flipHomes(directory: Directory, service: string, users: readonly BatchMover[], to: string, fromEpochOffset: number): Promise<void> {
  for (const u of users) {
    const fromEpoch = u.epoch + fromEpochOffset;
    if (await directory.flipHome(u.userId, service, to, fromEpoch)) continue;
    const home = await directory.home(u.userId, service);
    if (home?.region === to && home.epoch === fromEpoch + 1) continue;
    throw new DomicileError('CONFLICT', `the directory homes user ${u.userId}'s ${service} in ${home?.region ?? 'no region'} at epoch ${home?.epoch ?? '-'}, not at epoch ${fromEpoch} as the migration expects: something else moved the user`, {
      details: { userId: u.userId, service },
    });
  }
}

/** Checks the directory still homes every user of a batch where and at the epoch expected. */
export async function checkHomes(directory: Directory, service: string, users: readonly BatchMover[], region: string, epochOffset: number): Promise<void> {
  for (const u of users) {
    const home = await directory.home(u.userId, service);
    if (home?.region !== region || home.epoch !== u.epoch + epochOffset) {
      throw new DomicileError('CONFLICT', `user ${u.userId}'s ${service} is homed in ${home?.region ?? 'no region'} at epoch ${home?.epoch ?? '-'}, not in ${region} at epoch ${u.epoch + epochOffset}: the user was moved or erased outside this migration`, {
        details: { userId: u.userId, service },
      });
    }
  }
}
