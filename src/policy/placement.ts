import { DomicileError } from '../errors/domicile-error.js';
import type { Category, PlacementRule, Policy, Region, Service } from './policy-schema.js';

/**
 * Placement: market × service → ordered allowed regions. The most specific rule wins:
 * an exact market and service, then the exact market with "*", then the default market
 * ("*") with the exact service, then "*" × "*". The loader guarantees at most one rule per
 * (market, service) at each level, so the answer is never ambiguous.
 */
export function allowedRegions(policy: Policy, market: string, service: string): string[] | undefined {
  return matchingRule(policy, market, service)?.rule.regions;
}

/** The key of a literal market × service pair in a placement index. */
export function pairKey(market: string, service: string): string {
  return `${market}\u0000${service}`;
}

/**
 * Built once per placement list (a policy is not changed once parsed): for every market ×
 * service pair the rules name literally ("*" included), the index of the first rule naming it.
 * It answers "which rule places this pair" in constant time, where scanning every rule for
 * every pair made checks and plans quadratic in a policy's size. Only declared names (and "*")
 * are indexed: an undeclared one is a finding of the check, and no lookup ever asks for it, so
 * a rule listing thousands of them costs their count, not their product.
 */
const placementIndexes = new WeakMap<readonly PlacementRule[], Map<string, number>>();
export function placementIndex(policy: Policy): ReadonlyMap<string, number> {
  let index = placementIndexes.get(policy.placement);
  if (!index) {
    const built = new Map<string, number>();
    const { markets: declaredMarkets, services: declaredServices } = declaredNames(policy);
    policy.placement.forEach((rule, i) => {
      const services = new Set(rule.services.filter((s) => s === '*' || declaredServices.has(s)));
      for (const market of new Set(rule.markets.filter((m) => m === '*' || declaredMarkets.has(m)))) {
        for (const service of services) {
          const key = pairKey(market, service);
          if (!built.has(key)) built.set(key, i);
        }
      }
    });
    placementIndexes.set(policy.placement, built);
    index = built;
  }
  return index;
}

/** The markets and services a policy declares, once per policy. */
const declaredSets = new WeakMap<Policy, { markets: ReadonlySet<string>; services: ReadonlySet<string> }>();
export function declaredNames(policy: Policy): { markets: ReadonlySet<string>; services: ReadonlySet<string> } {
  let names = declaredSets.get(policy);
  if (!names) {
    names = {
      markets: new Set(policy.markets.map((m) => m.country)),
      services: new Set(policy.services.map((s) => s.id)),
    };
    declaredSets.set(policy, names);
  }
  return names;
}

/**
 * The rule that places (market, service), with its index in `policy.placement`, so that the
 * loader can point at the rule's line when what it resolves to is wrong. A market that no
 * rule names (pass "*" to ask about every unlisted market) falls to the default rules.
 */
export function matchingRule(
  policy: Policy,
  market: string,
  service: string,
): { index: number; rule: PlacementRule } | undefined {
  const index = placementIndex(policy);
  for (const [m, s] of [
    [market, service],
    [market, '*'],
    ['*', service],
    ['*', '*'],
  ] as const) {
    const i = index.get(pairKey(m, s));
    const rule = i === undefined ? undefined : policy.placement[i];
    if (i !== undefined && rule) return { index: i, rule };
  }
  return undefined;
}

/** Regions by id (the first of an id), once per region list, as placement indexes are. */
const regionIndexes = new WeakMap<readonly Region[], Map<string, Region>>();
export function findRegion(policy: Policy, regionId: string): Region | undefined {
  let index = regionIndexes.get(policy.regions);
  if (!index) {
    index = new Map();
    for (const region of policy.regions) if (!index.has(region.id)) index.set(region.id, region);
    regionIndexes.set(policy.regions, index);
  }
  return index.get(regionId);
}

/** The home: the first allowed region that is active. Never a silent fallback. */
export function homeRegion(policy: Policy, market: string, service: string): string {
  const allowed = allowedRegions(policy, market, service);
  if (!allowed) {
    throw new DomicileError(
      'FORBIDDEN',
      `policy "${policy.name}" places no data of market ${market}: add a placement rule for it, or a default rule with markets: ["*"]`,
      {
        details: { market, service },
      },
    );
  }
  const home = allowed.find((id) => findRegion(policy, id)?.status === 'active');
  if (!home) {
    throw new DomicileError(
      'FORBIDDEN',
      `policy "${policy.name}" allows only inactive regions (${allowed.join(', ')}) for market ${market}, service ${service}`,
      {
        details: { market, service, allowed },
      },
    );
  }
  return home;
}

export function isAllowed(policy: Policy, market: string, service: string, regionId: string): boolean {
  return allowedRegions(policy, market, service)?.includes(regionId) ?? false;
}

export function serviceIds(policy: Policy): string[] {
  return policy.services.map((s) => s.id);
}

/** The policy's service of that id: NOT_FOUND, listing the services there are, when it has none. */
export function requireService(policy: Policy, service: string): Service {
  const found = policy.services.find((s) => s.id === service);
  if (!found)
    throw new DomicileError(
      'NOT_FOUND',
      `no service "${service}" in policy "${policy.name}"; use one of: ${policy.services.map((s) => s.id).join(', ')}`,
    );
  return found;
}

export function findCategory(policy: Policy, service: string, category: string): Category | undefined {
  return policy.services.find((s) => s.id === service)?.categories.find((c) => c.id === category);
}

/** Regions whose node runs: active ones and draining ones (which still hold data). */
export function liveRegions(policy: Policy): Region[] {
  return policy.regions.filter((r) => r.status !== 'planned');
}
