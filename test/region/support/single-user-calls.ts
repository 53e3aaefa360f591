import type { RecordStates, RegionClient, TenancyChange, UserDigest } from '../../../src/region/region-client.js';

/**
 * One-user forms of the batch migration primitives, for tests that reason about one user at a
 * time: each is the batch call with a single entry, so it goes through the same code.
 */
type Primitives = Pick<RegionClient, 'importUsers' | 'digestUsers' | 'setTenancies' | 'purgeUsers'>;

export function importOne(
  region: Primitives,
  req: { service: string; userId: string; market: string; epoch: number; states: RecordStates },
): Promise<{ applied: number }> {
  const { service, ...user } = req;
  return region.importUsers({ service, users: [user] });
}

export async function digestOne(region: Primitives, req: { service: string; userId: string }): Promise<UserDigest> {
  const [digest] = await region.digestUsers({ service: req.service, userIds: [req.userId] });
  if (!digest) throw new Error(`digestUsers returned nothing for ${req.userId}`);
  return digest;
}

export function setOne(region: Primitives, req: TenancyChange & { service: string }): Promise<void> {
  const { service, ...tenancy } = req;
  return region.setTenancies({ service, tenancies: [tenancy] });
}

export function purgeOne(
  region: Primitives,
  req: { userId: string; service: string },
): Promise<{ records: number; keys: number }> {
  return region.purgeUsers({ service: req.service, userIds: [req.userId] });
}
