import { DomicileError } from '../errors/domicile-error.js';
import type { UserHolding } from '../region/region-client.js';
import type { Platform } from './platform.js';

/** Rows that name the user in a region that does not serve them for that service. */
export interface WhereResidue {
  region: string;
  service: string;
  reason: string;
}

export type WhereReport = {
  userId: string;
  market: string;
  homes: Array<{ service: string; region: string; epoch: number }>;
  /** What each live region holds of the user. */
  holdings: Array<{ region: string; services: UserHolding[] }>;
  /** What a region holds of the user though it is not their home for that service: leftovers a completed move or roll-back should not leave. */
  residue: WhereResidue[];
};

/** Which regions hold what of a user: the directory's homes and every live region's answer. */
export async function whereUser(platform: Platform, userId: string): Promise<WhereReport> {
  const user = await platform.directory.getUser(userId);
  if (!user)
    throw new DomicileError(
      'NOT_FOUND',
      `no user ${userId} in the directory: user ids look like u_… (see the reply of POST /v1/accounts)`,
    );
  const homes = await platform.directory.homes(userId);
  const holdings: WhereReport['holdings'] = [];
  const residue: WhereResidue[] = [];
  for (const [region, client] of platform.regions) {
    const services = await client.describeUser({ userId });
    if (services.length > 0) holdings.push({ region, services });
    for (const s of services) {
      const home = homes.find((h) => h.service === s.service);
      const rows = `${s.collections.reduce((n, c) => n + c.records, 0)} records, ${s.keys} keys, ${s.changes} change-log entries`;
      if (s.residue) {
        const tenancy = s.status === 'none' ? 'no tenancy' : `a ${s.status} tenancy`;
        residue.push({
          region,
          service: s.service,
          reason: `${tenancy} and ${rows}, though the user's ${s.service} lives in ${home?.region ?? 'no region'}`,
        });
      } else if (s.status === 'home' && home?.region !== region) {
        residue.push({
          region,
          service: s.service,
          reason: `a home tenancy (${rows}), though the directory homes the user's ${s.service} in ${home?.region ?? 'no region'}`,
        });
      }
    }
  }
  return { userId, market: user.market, homes, holdings, residue };
}
