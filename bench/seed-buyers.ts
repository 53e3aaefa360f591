import { UserTokens } from '../src/gateway/user-tokens.js';
import type { Platform } from '../src/platform/platform.js';
import { homeRegion, serviceIds } from '../src/policy/placement.js';
import { newId } from '../src/shared/new-id.js';

export interface Buyer {
  userId: string;
  market: string;
  token: string;
}

/**
 * Buyers for a flash sale, made straight in the platform: a directory entry homed by the
 * policy, a tenancy in each service's home region and a session with its token, as
 * registration makes them, without the password hash (scrypt costs ~50 ms an account, and a
 * sale of 100,000 units needs 110,000 buyers). The set-up of the sale's tests and benchmark;
 * never timed.
 */
export async function seedBuyers(
  platform: Platform,
  count: number,
  markets: readonly string[],
  onProgress?: (done: number) => void,
  concurrency = 1,
): Promise<Buyer[]> {
  const { policy, directory } = platform;
  const tokens = new UserTokens(platform.secrets.jwtKey, 24 * 3600);
  const services = serviceIds(policy);
  const homesOf = new Map(
    markets.map((m) => [m, services.map((service) => ({ service, region: homeRegion(policy, m, service), epoch: 1 }))]),
  );
  const buyers: Buyer[] = new Array(count);
  let next = 0;
  let done = 0;
  // A few at a time: a directory or regions in PostgreSQL answer each after a round trip.
  const seedOne = async () => {
    while (next < count) {
      const i = next++;
      const market = markets[i % markets.length]!;
      const homes = homesOf.get(market)!;
      const userId = newId('u');
      const createdAt = Date.now();
      await directory.createUser({ userId, market, logins: [], homes, createdAt });
      for (const home of homes)
        await platform.region(home.region).openTenancy({ userId, service: home.service, epoch: 1, market });
      const sessionId = newId('s');
      await directory.createSession({ sessionId, userId, createdAt });
      buyers[i] = { userId, market, token: await tokens.issue({ userId, sessionId }) };
      done += 1;
      if (onProgress && done % 10_000 === 0) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, seedOne));
  return buyers;
}
