import type { Directory } from '../directory/directory.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { findRegion, homeRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { RegionClient } from '../region/region-client.js';
import type { PlacementStat } from '../store/region-store.js';
import { defaultServiceOrder } from './migration-types.js';
import { yieldToEventLoop } from './yield-to-event-loop.js';

/** What moves of one service and market, from one region to another. */
export interface PlanGroup {
  service: string;
  market: string;
  from: string;
  to: string;
  users: number;
  /** Estimated from what the source region holds of the market's users of the service. */
  records: number;
  bytes: number;
}

export type MigrationPlan = {
  /** The policy the plan places data by (the one in force, or --to). */
  policy: { name: string; version: number };
  /** With --from: the policy the plan moves away from; homes are then those it gives. */
  fromPolicy: { name: string; version: number } | null;
  /** Services in the order they move. */
  services: string[];
  /** In service order, then market, then source. */
  groups: PlanGroup[];
  totals: { users: number; records: number; bytes: number };
};

export interface PlanInput {
  directory: Directory;
  /** Live regions: their placement statistics estimate records and bytes. */
  regions: ReadonlyMap<string, RegionClient>;
  /** The policy to place data by. */
  policy: Policy;
  /** Plan the difference between two policies (`domicile plan --from A --to B`). */
  from?: Policy | undefined;
  /** Services to move and their order (default: shop, account, messaging, cloud). */
  services?: readonly string[] | undefined;
}

/**
 * The services to move, in order: those given (checked against the policy), or every
 * service of the policy, e-commerce first as the articles moved it.
 */
export function resolveServiceOrder(policy: Policy, services?: readonly string[]): string[] {
  const known = policy.services.map((s) => s.id);
  const declared = new Set(known);
  if (services === undefined || services.length === 0) {
    const ordered = defaultServiceOrder.filter((s) => declared.has(s));
    return [...ordered, ...known.filter((s) => !ordered.includes(s))];
  }
  const seen = new Set<string>();
  for (const service of services) {
    if (!declared.has(service)) {
      throw new DomicileError(
        'BAD_REQUEST',
        `--services names "${service}", which policy "${policy.name}" does not declare; use some of: ${known.join(', ')}`,
        {
          details: { field: 'services' },
        },
      );
    }
    if (seen.has(service)) {
      throw new DomicileError(
        'BAD_REQUEST',
        `--services names "${service}" twice; name each service once, in the order they should move`,
        { details: { field: 'services' } },
      );
    }
    seen.add(service);
  }
  return [...services];
}

/** The home a policy gives, or a refusal that names the market and service. */
function homeOrRefuse(policy: Policy, market: string, service: string): string {
  try {
    return homeRegion(policy, market, service);
  } catch (err) {
    if (isDomicileError(err)) {
      throw new DomicileError('FORBIDDEN', `cannot plan: ${err.message}`, { cause: err, details: { market, service } });
    }
    throw err;
  }
}

async function placementOf(
  regions: ReadonlyMap<string, RegionClient>,
  regionIds: Iterable<string>,
): Promise<Map<string, PlacementStat>> {
  const stats = new Map<string, PlacementStat>();
  for (const id of new Set(regionIds)) {
    const client = regions.get(id);
    if (!client) continue;
    for (const stat of await client.placementStats()) stats.set(`${id}\u0000${stat.market}\u0000${stat.service}`, stat);
  }
  return stats;
}

/**
 * Per service and market, which users' data moves from where to where. From the directory
 * (where users are homed now) and the policy in force; with `from`, from the difference of
 * two policies' homes (every market × service whose home changes, with the directory's users
 * homed where `from` puts them). Refuses a plan whose destination is not an active region.
 */
export async function planMigration(input: PlanInput): Promise<MigrationPlan> {
  const { policy, from } = input;
  const services = resolveServiceOrder(policy, input.services);
  const counts = await input.directory.homeCounts();
  const groups = new Map<string, PlanGroup>();
  const group = (service: string, market: string, source: string, to: string): PlanGroup => {
    const id = `${service}\u0000${market}\u0000${source}`;
    let g = groups.get(id);
    if (!g) {
      g = { service, market, from: source, to, users: 0, records: 0, bytes: 0 };
      groups.set(id, g);
    }
    return g;
  };

  if (from) {
    const markets = [...new Set([...from.markets, ...policy.markets].map((m) => m.country))].sort();
    let resolved = 0;
    for (const service of services) {
      for (const market of markets) {
        const before = homeOrRefuse(from, market, service);
        const after = homeOrRefuse(policy, market, service);
        if (before !== after) group(service, market, before, after);
        // A plan runs in the gateway's process: a policy of many services and markets lets
        // the other requests in as it goes.
        if (++resolved % 2_000 === 0) await yieldToEventLoop();
      }
    }
    for (const c of counts) {
      const g = groups.get(`${c.service}\u0000${c.market}\u0000${c.region}`);
      if (g) g.users += c.users;
    }
  } else {
    for (const c of counts) {
      if (!services.includes(c.service)) continue;
      const to = homeOrRefuse(policy, c.market, c.service);
      if (c.region !== to) group(c.service, c.market, c.region, to).users += c.users;
    }
  }

  const stats = await placementOf(
    input.regions,
    [...groups.values()].map((g) => g.from),
  );
  for (const g of groups.values()) {
    const stat = stats.get(`${g.from}\u0000${g.market}\u0000${g.service}`);
    if (stat && stat.users > 0 && g.users > 0) {
      const share = Math.min(1, g.users / stat.users);
      g.records = Math.round(stat.records * share);
      g.bytes = Math.round(stat.bytes * share);
    }
  }

  const rank = new Map(services.map((s, i) => [s, i]));
  const order = (s: string) => rank.get(s) ?? -1;
  const sorted = [...groups.values()].sort(
    (a, b) => order(a.service) - order(b.service) || a.market.localeCompare(b.market) || a.from.localeCompare(b.from),
  );
  const plan: MigrationPlan = {
    policy: { name: policy.name, version: policy.version },
    fromPolicy: from ? { name: from.name, version: from.version } : null,
    services,
    groups: sorted,
    totals: {
      users: sorted.reduce((n, g) => n + g.users, 0),
      records: sorted.reduce((n, g) => n + g.records, 0),
      bytes: sorted.reduce((n, g) => n + g.bytes, 0),
    },
  };
  checkPlanRegions(plan, policy);
  return plan;
}

/**
 * The placement invariant, checked before anything moves: every destination is a region the
 * policy declares as active (never a planned or unknown one), and, when `live` is given,
 * every source and destination runs in this platform.
 */
export function checkPlanRegions(plan: MigrationPlan, policy: Policy, live?: ReadonlySet<string>): void {
  for (const g of plan.groups) {
    const what = `the plan would move ${g.users} ${g.market} users' ${g.service} data from ${g.from} to ${g.to}`;
    const region = findRegion(policy, g.to);
    if (!region) {
      throw new DomicileError(
        'FORBIDDEN',
        `${what}, a region policy "${policy.name}" does not declare: declare it, or fix the placement rule`,
        { details: { region: g.to } },
      );
    }
    if (region.status !== 'active') {
      throw new DomicileError(
        'FORBIDDEN',
        `${what}, which policy "${policy.name}" declares ${region.status}: a ${region.status} region receives no data; make it active first`,
        {
          details: { region: g.to, status: region.status },
        },
      );
    }
    if (live && !live.has(g.to)) {
      throw new DomicileError(
        'UNAVAILABLE',
        `${what}, which does not run in this platform: restart \`domicile up\` with the policy that makes it active`,
        { details: { region: g.to } },
      );
    }
    if (live && g.users > 0 && !live.has(g.from)) {
      throw new DomicileError(
        'UNAVAILABLE',
        `${what}, but ${g.from} does not run in this platform, so its data cannot be exported: keep it active or draining until the move is done`,
        {
          details: { region: g.from },
        },
      );
    }
  }
}
