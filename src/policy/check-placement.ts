import type { Refer } from './check-declarations.js';
import { declaredNames, findRegion, matchingRule, pairKey, placementIndex } from './placement.js';
import type { PolicyFinding } from './policy-problem.js';
import { formatPath } from './policy-problem.js';
import type { Policy } from './policy-schema.js';
import { maxPlacementPairs } from './policy-size.js';

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
  // Every lookup below is by Set or Map, and every finding is pushed one by one: checks linear
  // in the policy's size (the market × service pairs its rules name), however many rules.
  const findings: PolicyFinding[] = [];
  const regionIds = unique(policy.regions.map((r) => r.id));
  const serviceIds = unique(policy.services.map((s) => s.id));
  const marketCodes = unique(policy.markets.map((m) => m.country));
  const [regionSet, serviceSet, marketSet] = [new Set(regionIds), new Set(serviceIds), new Set(marketCodes)];
  const [marketChoices, serviceChoices, regionChoices] = [
    [...marketCodes, '"*"'].join(', '),
    [...serviceIds, '"*"'].join(', '),
    regionIds.join(', '),
  ];
  const unresolvable = new Set<number>();

  policy.placement.forEach((rule, ri) => {
    rule.markets.forEach((market, j) => {
      if (market === '*' || marketSet.has(market)) return;
      findings.push({
        path: ['placement', ri, 'markets', j],
        message: `market "${market}" is not declared; add it under markets (country, jurisdiction), or write one of: ${marketChoices}`,
      });
    });
    rule.services.forEach((service, j) => {
      if (service === '*' || serviceSet.has(service)) return;
      findings.push({
        path: ['placement', ri, 'services', j],
        message: `unknown service "${service}"; write one of: ${serviceChoices}`,
      });
    });
    rule.regions.forEach((region, j) => {
      if (regionSet.has(region)) return;
      unresolvable.add(ri);
      findings.push({
        path: ['placement', ri, 'regions', j],
        message: `unknown region "${region}"; write one of: ${regionChoices}`,
      });
    });
    for (const list of ['markets', 'services', 'regions'] as const) {
      const seen = new Set<string>();
      rule[list].forEach((name, j) => {
        if (seen.has(name))
          findings.push({
            path: ['placement', ri, list, j],
            message: `"${name}" is listed twice in this rule; remove one`,
          });
        seen.add(name);
      });
    }
  });

  // A rule naming more pairs than the gateway takes from a whole policy (policy-size.ts) is
  // refused here too, at its line, before anything works pair by pair: one rule of 30,000
  // markets and 30,000 services is 9 × 10⁸ pairs, which no check should walk. (Many small
  // rules are not capped here: a file's check is linear in the pairs its rules name.)
  let oversized = false;
  policy.placement.forEach((rule, ri) => {
    const named = rule.markets.length * rule.services.length;
    if (named <= maxPlacementPairs) return;
    oversized = true;
    findings.push({
      path: ['placement', ri],
      message: `this rule names ${named} market × service pairs, more than the ${maxPlacementPairs} a policy may; write "*" for every market or service a rule means`,
    });
  });
  if (oversized) return findings;

  for (const finding of ambiguities(policy, refer)) findings.push(finding);

  // Resolve every declared market (and, when a default rule exists, any unlisted one) for
  // every service, remembering which rule answered, to judge each rule by what it places.
  const placedBy = new Map<number, Array<[string, string]>>();
  const hasDefault = policy.placement.some((r) => r.markets.includes('*'));
  const markets = hasDefault ? [...marketCodes, '*'] : marketCodes;
  const marketIndex = new Map<string, number>();
  policy.markets.forEach((m, i) => {
    if (!marketIndex.has(m.country)) marketIndex.set(m.country, i);
  });
  for (const market of markets) {
    const uncovered: string[] = [];
    for (const service of serviceIds) {
      const match = matchingRule(policy, market, service);
      if (match === undefined) {
        uncovered.push(service);
        continue;
      }
      const pairs = placedBy.get(match.index);
      if (pairs) pairs.push([market, service]);
      else placedBy.set(match.index, [[market, service]]);
    }
    if (uncovered.length > 0 && market !== '*') {
      findings.push({
        path: ['markets', marketIndex.get(market) ?? -1],
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

/**
 * Rules that name a market × service pair (literally, "*" included) that an earlier rule
 * names too: one finding per rule and earlier rule it shares pairs with, found through the
 * placement index (the first rule naming each pair) rather than by comparing every two rules.
 */
function ambiguities(policy: Policy, refer: Refer): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const first = placementIndex(policy);
  const declared = declaredNames(policy);
  policy.placement.forEach((rule, j) => {
    const shared = new Map<number, { markets: Set<string>; services: Set<string> }>();
    // Undeclared names are findings of their own, and in no index: only declared pairs can be shared.
    const services = unique(rule.services.filter((s) => s === '*' || declared.services.has(s)));
    for (const market of unique(rule.markets.filter((m) => m === '*' || declared.markets.has(m)))) {
      for (const service of services) {
        const i = first.get(pairKey(market, service));
        if (i === undefined || i >= j) continue;
        const overlap = shared.get(i) ?? { markets: new Set<string>(), services: new Set<string>() };
        overlap.markets.add(market);
        overlap.services.add(service);
        shared.set(i, overlap);
      }
    }
    for (const [i, { markets, services: both }] of [...shared].sort(([a], [b]) => a - b)) {
      findings.push({
        path: ['placement', j],
        message: `ambiguous: the rule at ${refer(['placement', i])} also places ${[...markets].join(', ')} × ${[...both].join(', ')}; name each market × service pair in one rule only`,
      });
    }
  });
  return findings;
}

/** "IN × shop" or "HK, ID, unlisted markets × account, cloud and US × shop". */
function describePairs(pairs: ReadonlyArray<[string, string]>, serviceOrder: readonly string[]): string {
  const byMarket = new Map<string, Set<string>>();
  for (const [market, service] of pairs) {
    const services = byMarket.get(market);
    if (services) services.add(service);
    else byMarket.set(market, new Set([service]));
  }
  const groups = new Map<string, string[]>();
  for (const [market, services] of byMarket) {
    const key = serviceOrder.filter((s) => services.has(s)).join(', ');
    const name = market === '*' ? UNLISTED : market;
    const group = groups.get(key);
    if (group) group.push(name);
    else groups.set(key, [name]);
  }
  return [...groups].map(([services, markets]) => `${markets.join(', ')} × ${services}`).join(' and ');
}

function plural(word: string, items: readonly unknown[]): string {
  return items.length === 1 ? word : `${word}s`;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
