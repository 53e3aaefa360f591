import type { Platform } from '../src/platform/platform.js';
import type { Policy } from '../src/policy/policy-schema.js';
import { recordValue } from './bench-writer.js';

/** International markets of the 2014 scenario: all of their shop moves in phase 1. */
export const benchMarkets = ['HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW', 'US'];

export function benchUserIds(users: number): string[] {
  return Array.from({ length: users }, (_, u) => `u_bench${String(u).padStart(7, '0')}`);
}

/**
 * Seeds users with records r0…r(n-1) of their shop's orders in `region`, as a copy would
 * (incoming, imported, then home), 100 users per transaction; every service's home is there.
 */
export async function seedBenchUsers(
  platform: Platform,
  policy: Policy,
  options: { region: string; userIds: readonly string[]; recordsPerUser: number; valueBytes: number; pool: string },
): Promise<void> {
  const region = platform.region(options.region);
  const { userIds, recordsPerUser } = options;
  for (let first = 0; first < userIds.length; first += 100) {
    const users = userIds.slice(first, first + 100).map((userId, i) => {
      const u = first + i;
      const records = Array.from({ length: recordsPerUser }, (_, r) => ({
        collection: 'orders',
        key: `r${r}`,
        version: 1,
        updatedAt: Date.now(),
        value: recordValue(u * recordsPerUser + r, options.valueBytes, options.pool),
      }));
      return { userId, market: benchMarkets[u % benchMarkets.length]!, epoch: 1, records };
    });
    for (const u of users) {
      await platform.directory.createUser({
        userId: u.userId,
        market: u.market,
        logins: [],
        createdAt: Date.now(),
        homes: policy.services.map((s) => ({ service: s.id, region: options.region, epoch: 1 })),
      });
    }
    const tenancies = (status: 'incoming' | 'home') =>
      users.map((u) => ({ userId: u.userId, market: u.market, epoch: 1, status, movedTo: null }));
    await region.setTenancies({ service: 'shop', tenancies: tenancies('incoming') });
    await region.importUsers({
      service: 'shop',
      users: users.map((u) => ({
        userId: u.userId,
        market: u.market,
        epoch: 1,
        states: { records: u.records, deleted: [] },
      })),
    });
    await region.setTenancies({ service: 'shop', tenancies: tenancies('home') });
  }
}
