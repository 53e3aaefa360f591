import type { Directory } from '../directory/directory.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { RegionClient } from '../region/region-client.js';
import type { TenancyStatus } from '../store/region-store.js';
import type { BatchMover } from './coordinator-store.js';

/**
 * Sets the tenancy of every user of a batch in one region (fence, unfence, home, moved), in
 * one call and one transaction of the region's. It is idempotent, so one that fails is simply
 * set again when the batch is settled.
 */
export async function setTenancies(
  region: RegionClient,
  service: string,
  users: readonly BatchMover[],
  epochOffset: number,
  status: TenancyStatus,
  movedTo: string | null = null,
): Promise<void> {
  if (users.length === 0) return;
  await region.setTenancies({
    service,
    tenancies: users.map((u) => ({
      userId: u.userId,
      market: u.market,
      epoch: u.epoch + epochOffset,
      status,
      movedTo,
    })),
  });
}

/**
 * Flips the directory home of every user of a batch, compare-and-set on the epoch, in one
 * transaction. A flip that finds the home already where it should be (done before a crash)
 * counts as done; anything else means someone else moved the user, and stops the batch.
 */
export async function flipHomes(
  directory: Directory,
  service: string,
  users: readonly BatchMover[],
  to: string,
  fromEpochOffset: number,
): Promise<void> {
  const flipped = await directory.flipHomes(
    users.map((u) => ({ userId: u.userId, service, toRegion: to, fromEpoch: u.epoch + fromEpochOffset })),
  );
  for (const [i, u] of users.entries()) {
    if (flipped[i]) continue;
    const fromEpoch = u.epoch + fromEpochOffset;
    const home = await directory.home(u.userId, service);
    if (home?.region === to && home.epoch === fromEpoch + 1) continue;
    // Erased meanwhile (a data subject request): nobody to flip.
    if (!home && !(await directory.getUser(u.userId))) continue;
    throw new DomicileError(
      'CONFLICT',
      `the directory homes user ${u.userId}'s ${service} in ${home?.region ?? 'no region'} at epoch ${home?.epoch ?? '-'}, not at epoch ${fromEpoch} as the migration expects: something else moved the user`,
      {
        details: { userId: u.userId, service },
      },
    );
  }
}

/** Checks the directory still homes every user of a batch where and at the epoch expected. */
export async function checkHomes(
  directory: Directory,
  service: string,
  users: readonly BatchMover[],
  region: string,
  epochOffset: number,
): Promise<void> {
  for (const u of users) {
    const home = await directory.home(u.userId, service);
    if (!home && !(await directory.getUser(u.userId))) continue; // erased meanwhile: nobody to check
    if (home?.region !== region || home.epoch !== u.epoch + epochOffset) {
      throw new DomicileError(
        'CONFLICT',
        `user ${u.userId}'s ${service} is homed in ${home?.region ?? 'no region'} at epoch ${home?.epoch ?? '-'}, not in ${region} at epoch ${u.epoch + epochOffset}: the user was moved or erased outside this migration`,
        {
          details: { userId: u.userId, service },
        },
      );
    }
  }
}
