import type { Refer } from './check-declarations.js';
import { findRegion, matchingRule } from './placement.js';
import { formatPath } from './policy-problem.js';
import type { PolicyFinding } from './policy-problem.js';
import type { Policy } from './policy-schema.js';

/** How the default rules' markets ("*": every market no rule names) read in a message. */
const UNLISTED = 'unlisted markets';

/**
 * Checks of the placement rules: every name they use is declared, no two rules place the
 * same market × service at the same specificity (so "most specific wins" has one answer),
 * every declared market is placed for every service, and every rule that places anyone
 * offers at least one active region. A market whose allowed regions are all planned or
 * draining is an error here, never a silent fallback at run time.
 */
export function checkPlacement(policy: Policy, refer: Refer = formatPath): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const regionIds = unique(policy.regions.map((r) => r.id));
  const serviceIds = unique(policy.services.map((s) => s.id));
  const marketCodes = unique(policy.markets.map((m) => m.country));
  const unresolvable = new Set<number>();

  policy.placement.forEach((rule, ri) => {
    rule.markets.forEach((market, j) => {
      if (market === '*' || marketCodes.includes(market)) return;
      findings.push({
        path: ['placement', ri, 'markets', j],
        message: `market "${market}" is not declared; add it under markets (country, jurisdiction), or write one of: ${[...marketCodes, '"*"'].join(', ')}`,
      });
    });
    rule.services.forEach((service, j) => {
      if (service === '*' || serviceIds.includes(service)) return;
      findings.push({ path: ['placement', ri, 'services', j], message: `unknown service "${service}"; write one of: ${[...serviceIds, '"*"'].join(', ')}` });
    });
    rule.regions.forEach((region, j) => {
      if (regionIds.includes(region)) return;
      unresolvable.add(ri);
      findings.push({ path: ['placement', ri, 'regions', j], message: `unknown region "${region}"; write one of: ${regionIds.join(', ')}` });
    });
    for (const list of ['markets', 'services', 'regions'] as const) {
      rule[list].forEach((name, j) => {
        if (rule[list].indexOf(name) !== j) findings.push({ path: ['placement', ri, list, j], message: `"${name}" is listed twice in this rule; remove one` });
      });
    }
  });

  findings.push(...ambiguities(policy, refer));

  // Resolve every declared market (and, when a default rule exists, any unlisted one) for
  // every service, remembering which rule answered, to judge each rule by what it places.
  const placedBy = new Map<number, Array<[string, string]>>();
  const hasDefault = policy.placement.some((r) => r.markets.includes('*'));
  const markets = hasDefault ? [...marketCodes, '*'] : marketCodes;
  for (const market of markets) {
    const uncovered: string[] = [];
    for (const service of serviceIds) {
      const match = matchingRule(policy, market, service);
      if (match === undefined) uncovered.push(service);
      else placedBy.set(match.index, [...(placedBy.get(match.index) ?? []), [market, service]]);
    }
    if (uncovered.length > 0 && market !== '*') {
      findings.push({
        path: ['markets', policy.markets.findIndex((m) => m.country === market)],
        message: `no placement rule places market ${market} for ${plural('service', uncovered)} ${uncovered.join(', ')}; add ${market} to a rule for ${uncovered.length === 1 ? 'it' : 'them'}, or add a default rule with markets: ["*"]`,
      });
    }
  }

  for (const [ri, pairs] of [...placedBy].sort(([a], [b]) => a - b)) {
    const rule = policy.placement[ri];
    if (rule === undefined || unresolvable.has(ri)) continue;
    if (rule.regions.some((id) => findRegion(policy, id)?.status === 'active')) continue;
    const statuses = rule.regions.map((id) => `${id} (${findRegion(policy, id)?.status ?? 'unknown'})`).join(', ');
    findings.push({
      path: ['placement', ri],
      message: `no active region for ${describePairs(pairs, serviceIds)}: this rule allows only ${statuses}; make one of them active, or add an active region to this rule`,
    });
  }
  return findings;
}

/** Two rules that both name the same market and the same service (literally, "*" included). */
function ambiguities(policy: Policy, refer: Refer): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  policy.placement.forEach((later, j) => {
    policy.placement.slice(0, j).forEach((earlier, i) => {
      const markets = unique(later.markets.filter((m) => earlier.markets.includes(m)));
      const services = unique(later.services.filter((s) => earlier.services.includes(s)));
      if (markets.length === 0 || services.length === 0) return;
      findings.push({
        path: ['placement', j],
        message: `ambiguous: the rule at ${refer(['placement', i])} also places ${markets.join(', ')} × ${services.join(', ')}; name each market × service pair in one rule only`,
      });
    });
  });
  return findings;
}

/** "IN × shop" or "HK, ID, unlisted markets × account, cloud and US × shop". */
function describePairs(pairs: ReadonlyArray<[string, string]>, serviceOrder: readonly string[]): string {
  const byMarket = new Map<string, string[]>();
  for (const [market, service] of pairs) byMarket.set(market, [...(byMarket.get(market) ?? []), service]);
  const groups = new Map<string, string[]>();
  for (const [market, services] of byMarket) {
    const key = serviceOrder.filter((s) => services.includes(s)).join(', ');
    groups.set(key, [...(groups.get(key) ?? []), market === '*' ? UNLISTED : market]);
  }
  return [...groups].map(([services, markets]) => `${markets.join(', ')} × ${services}`).join(' and ');
}

function plural(word: string, items: readonly unknown[]): string {
  return items.length === 1 ? word : `${word}s`;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
