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

/**
 * The rule that places (market, service), with its index in `policy.placement`, so that the
 * loader can point at the rule's line when what it resolves to is wrong. A market that no
 * rule names (pass "*" to ask about every unlisted market) falls to the default rules.
 */
export function matchingRule(policy: Policy, market: string, service: string): { index: number; rule: PlacementRule } | undefined {
  const levels: Array<[string, string]> = [
    [market, service],
    [market, '*'],
    ['*', service],
    ['*', '*'],
  ];
  for (const [m, s] of levels) {
    const index = policy.placement.findIndex((r) => r.markets.includes(m) && r.services.includes(s));
    const rule = policy.placement[index];
    if (rule) return { index, rule };
  }
  return undefined;
}

export function findRegion(policy: Policy, regionId: string): Region | undefined {
  return policy.regions.find((r) => r.id === regionId);
}

/** The home: the first allowed region that is active. Never a silent fallback. */
export function homeRegion(policy: Policy, market: string, service: string): string {
  const allowed = allowedRegions(policy, market, service);
  if (!allowed) {
    throw new DomicileError('FORBIDDEN', `policy "${policy.name}" places no data of market ${market}: add a placement rule for it, or a default rule with markets: ["*"]`, {
      details: { market, service },
    });
  }
  const home = allowed.find((id) => findRegion(policy, id)?.status === 'active');
  if (!home) {
    throw new DomicileError('FORBIDDEN', `policy "${policy.name}" allows only inactive regions (${allowed.join(', ')}) for market ${market}, service ${service}`, {
      details: { market, service, allowed },
    });
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
  if (!found) throw new DomicileError('NOT_FOUND', `no service "${service}" in policy "${policy.name}"; use one of: ${policy.services.map((s) => s.id).join(', ')}`);
  return found;
}

export function findCategory(policy: Policy, service: string, category: string): Category | undefined {
  return policy.services.find((s) => s.id === service)?.categories.find((c) => c.id === category);
}

/** Regions whose node runs: active ones and draining ones (which still hold data). */
export function liveRegions(policy: Policy): Region[] {
  return policy.regions.filter((r) => r.status !== 'planned');
}
