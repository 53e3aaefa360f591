import type { OpenMove } from '../migrate/open-moves.js';
import { isAllowed } from '../policy/placement.js';
import type { Platform } from './platform.js';

export interface ResidencyRow {
  market: string;
  region: string;
  service: string;
  /** Users whose data of the service rests in the region (tenancy or records). */
  users: number;
  records: number;
  bytes: number;
  /** Users whose rows (tenancy, change log, records, keys) still name them there though it does not serve them. */
  residue: number;
  /** Users the directory homes there. */
  homed: number;
  allowed: boolean;
}

export interface Violation {
  kind: 'data-outside-policy' | 'home-outside-policy' | 'residue';
  market: string;
  region: string;
  service: string;
  users: number;
  records: number;
  message: string;
}

/** Users whose source rows an unfinished migration keeps for its roll-back window: not a violation. */
export interface InMove {
  migrationId: string;
  market: string;
  region: string;
  destination: string;
  service: string;
  users: number;
  message: string;
}

export type ResidencyReport = {
  policy: { name: string; version: number };
  generatedAt: string;
  regions: Array<{ id: string; provider: string; status: string; city: string }>;
  rows: ResidencyRow[];
  violations: Violation[];
  inMove: InMove[];
};

/**
 * Placement per market × region × service, from what each live region says it holds and what
 * the directory says, checked against the current policy. Every row a region reports where
 * the policy does not allow it is a violation: data resting outside its allowed regions.
 *
 * `moves` are the open moves of an unfinished migration (see open-moves.ts): up to their count,
 * users whose source tenancy says 'moved' to the move's destination are in move, reported
 * apart and not as residue; any beyond it, or left after the migration finished, are residue.
 */
export async function residencyReport(platform: Platform, moves: readonly OpenMove[] = []): Promise<ResidencyReport> {
  const { policy } = platform;
  const rows = new Map<string, ResidencyRow>();
  const row = (market: string, region: string, service: string): ResidencyRow => {
    const id = `${market}\u0000${region}\u0000${service}`;
    let r = rows.get(id);
    if (!r) {
      // market '' (rows without a tenancy) is allowed nowhere: no rule places an unknown market.
      r = {
        market,
        region,
        service,
        users: 0,
        records: 0,
        bytes: 0,
        residue: 0,
        homed: 0,
        allowed: market !== '' && isAllowed(policy, market, service, region),
      };
      rows.set(id, r);
    }
    return r;
  };
  const allowance = new Map(
    moves.map((m) => [`${m.market}\u0000${m.source}\u0000${m.service}\u0000${m.destination}`, { ...m }]),
  );
  const inMove: InMove[] = [];
  const movingIn = new Map<ResidencyRow, number>();
  for (const [regionId, client] of platform.regions) {
    for (const stat of await client.placementStats()) {
      const r = row(stat.market, regionId, stat.service);
      r.users += stat.users;
      r.records += stat.records;
      r.bytes += stat.bytes;
      r.residue += stat.residue;
      for (const [destination, users] of Object.entries(stat.movedTo ?? {})) {
        const move = allowance.get(`${stat.market}\u0000${regionId}\u0000${stat.service}\u0000${destination}`);
        const moving = Math.min(users, move?.users ?? 0);
        if (!move || moving === 0) continue;
        move.users -= moving;
        r.residue -= moving;
        movingIn.set(r, (movingIn.get(r) ?? 0) + moving);
        inMove.push({
          migrationId: move.migrationId,
          market: stat.market,
          region: regionId,
          destination,
          service: stat.service,
          users: moving,
          message: `${moving} ${stat.market} users of ${stat.service} in ${regionId} are moving to ${destination} by migration ${move.migrationId}: cut over, kept here until domicile migrate complete (or rollback)`,
        });
      }
    }
  }
  for (const home of await platform.directory.homeCounts()) {
    row(home.market, home.region, home.service).homed += home.users;
  }
  const sorted = [...rows.values()].sort(
    (a, b) =>
      a.market.localeCompare(b.market) || a.service.localeCompare(b.service) || a.region.localeCompare(b.region),
  );
  const violations: Violation[] = [];
  for (const r of sorted) {
    // Allowed or not, a region that no longer serves a user keeps nothing naming them (invariant 2).
    if (r.residue > 0) {
      const who = r.market === '' ? 'users of no tenancy here' : `${r.market} users`;
      violations.push({
        kind: 'residue',
        market: r.market,
        region: r.region,
        service: r.service,
        users: r.residue,
        records: 0,
        message: `${r.residue} ${who} are still named by ${r.service} rows in ${r.region} (tenancy, change log, records or keys), which no longer serves them: complete or roll back the migration that moved them (domicile migrate status), and see domicile where USER`,
      });
    }
    if (r.allowed) continue;
    // The source of a move holds its movers' data until complete (invariant 1): only users beyond them violate.
    const moving = movingIn.get(r) ?? 0;
    const outside = r.users - moving;
    if (outside > 0 || (moving === 0 && r.records > 0)) {
      const besides = moving > 0 ? ` (besides ${moving} in move, whose records are counted too)` : '';
      violations.push({
        kind: 'data-outside-policy',
        market: r.market,
        region: r.region,
        service: r.service,
        users: outside,
        records: r.records,
        message: `${r.records} ${r.service} records of ${outside} ${r.market} users${besides} rest in ${r.region}, which policy "${policy.name}" does not allow for ${r.market}`,
      });
    }
    if (r.homed > 0) {
      violations.push({
        kind: 'home-outside-policy',
        market: r.market,
        region: r.region,
        service: r.service,
        users: r.homed,
        records: 0,
        message: `the directory homes ${r.homed} ${r.market} users' ${r.service} in ${r.region}, which policy "${policy.name}" does not allow: migrate them (domicile plan / migrate)`,
      });
    }
  }
  return {
    policy: { name: policy.name, version: policy.version },
    generatedAt: new Date().toISOString(),
    regions: policy.regions.map((r) => ({ id: r.id, provider: r.provider, status: r.status, city: r.location.city })),
    rows: sorted,
    violations,
    inMove: inMove.sort(
      (a, b) =>
        a.market.localeCompare(b.market) ||
        a.service.localeCompare(b.service) ||
        a.region.localeCompare(b.region) ||
        a.destination.localeCompare(b.destination),
    ),
  };
}
