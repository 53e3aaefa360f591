import { DomicileError } from '../errors/domicile-error.js';
import type { UserHolding } from '../region/region-client.js';
import type { Platform } from './platform.js';

export type WhereReport = {
  userId: string;
  market: string;
  homes: Array<{ service: string; region: string; epoch: number }>;
  /** What each live region holds of the user. */
  holdings: Array<{ region: string; services: UserHolding[] }>;
};

/** Which regions hold what of a user: the directory's homes and every live region's answer. */
export async function whereUser(platform: Platform, userId: string): Promise<WhereReport> {
  const user = await platform.directory.getUser(userId);
  if (!user) throw new DomicileError('NOT_FOUND', `no user ${userId} in the directory: user ids look like u_… (see the reply of POST /v1/accounts)`);
  const holdings: WhereReport['holdings'] = [];
  for (const [region, client] of platform.regions) {
    const services = await client.describeUser({ userId });
    if (services.length > 0) holdings.push({ region, services });
  }
  return { userId, market: user.market, homes: await platform.directory.homes(userId), holdings };
}
