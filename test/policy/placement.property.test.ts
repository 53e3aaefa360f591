import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDomicileError } from '../../src/errors/domicile-error.js';
import { checkPolicy } from '../../src/policy/check-policy.js';
import { allowedRegions, findRegion, homeRegion } from '../../src/policy/placement.js';
import type { Policy, PolicyInput } from '../../src/policy/policy-schema.js';
import { policySchema, regionStatuses } from '../../src/policy/policy-schema.js';

const MARKETS = ['IN', 'SG', 'US', 'BR', 'MY'];
const SERVICES = ['shop', 'account', 'cloud'];
const REGIONS = ['r-a', 'r-b', 'r-c', 'r-d'];
/** A market no policy declares: it can only be placed by the default ("*") rules. */
const UNLISTED = 'KR';

/**
 * A random small policy, unambiguous by construction: a table of cells (market or "*") ×
 * (service or "*") → an ordered list of regions, written as one rule per service and region
 * list, naming every market that shares them. `cells` is kept as the oracle.
 */
interface Scenario {
  policy: Policy;
  cells: Map<string, string[]>;
}

const cellKey = (market: string, service: string) => `${market}|${service}`;

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    statuses: fc.array(fc.constantFrom(...regionStatuses), { minLength: REGIONS.length, maxLength: REGIONS.length }),
    markets: fc.subarray(MARKETS, { minLength: 1 }),
    services: fc.subarray(SERVICES, { minLength: 1 }),
    cells: fc.array(
      fc.record({
        market: fc.constantFrom(...MARKETS, '*'),
        service: fc.constantFrom(...SERVICES, '*'),
        regions: fc.uniqueArray(fc.constantFrom(...REGIONS), { minLength: 1, maxLength: 3 }),
      }),
      { minLength: 1, maxLength: 12 },
    ),
  })
  .map(({ statuses, markets, services, cells }) => {
    const table = new Map<string, string[]>();
    for (const c of cells) {
      // Only names the policy declares; the first cell written for a key wins.
      if (c.market !== '*' && !markets.includes(c.market)) continue;
      if (c.service !== '*' && !services.includes(c.service)) continue;
      if (!table.has(cellKey(c.market, c.service))) table.set(cellKey(c.market, c.service), c.regions);
    }
    const rules = new Map<string, { markets: string[]; services: string[]; regions: string[] }>();
    for (const [key, regions] of table) {
      const [market = '', service = ''] = key.split('|');
      const group = `${service}|${regions.join(',')}`;
      const rule = rules.get(group);
      if (rule) rule.markets.push(market);
      else rules.set(group, { markets: [market], services: [service], regions });
    }
    const input: PolicyInput = {
      version: 1,
      name: 'random',
      regions: REGIONS.map((id, i) => ({
        id,
        provider: 'aws',
        location: { city: 'Singapore', country: 'SG', lat: 1.29, lon: 103.85 },
        status: statuses[i] ?? 'active',
      })),
      markets: markets.map((country) => ({ country, jurisdiction: `${country}-LAW` })),
      services: services.map((id) => ({ id, categories: [{ id: 'records' }] })),
      // The schema needs one rule; a table with no cells gets one that names a default pair.
      placement: rules.size > 0 ? [...rules.values()] : [{ markets: ['*'], services: ['*'], regions: ['r-a'] }],
    };
    if (rules.size === 0) table.set(cellKey('*', '*'), ['r-a']);
    return { policy: policySchema.parse(input), cells: table };
  });

/** The oracle: the regions of the most specific cell, written independently of placement.ts. */
function expectedAllowed({ cells }: Scenario, market: string, service: string): string[] | undefined {
  return (
    cells.get(cellKey(market, service)) ??
    cells.get(cellKey(market, '*')) ??
    cells.get(cellKey('*', service)) ??
    cells.get(cellKey('*', '*'))
  );
}

function tryHome(policy: Policy, market: string, service: string): { home: string } | { error: unknown } {
  try {
    return { home: homeRegion(policy, market, service) };
  } catch (error) {
    return { error };
  }
}

describe('placement (property)', () => {
  it('the home is the first active region of the most specific rule, and throws exactly when there is none', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { policy } = scenario;
        for (const market of [...policy.markets.map((m) => m.country), UNLISTED]) {
          for (const service of policy.services.map((s) => s.id)) {
            const expected = expectedAllowed(scenario, market, service);
            expect(allowedRegions(policy, market, service)).toEqual(expected);
            const outcome = tryHome(policy, market, service);
            const firstActive = expected?.find((id) => findRegion(policy, id)?.status === 'active');
            if (firstActive === undefined) {
              expect('error' in outcome && isDomicileError(outcome.error, 'FORBIDDEN')).toBe(true);
            } else {
              expect(outcome).toEqual({ home: firstActive });
              expect(expected).toContain(firstActive);
              expect(findRegion(policy, firstActive)?.status).toBe('active');
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the loader accepts a policy exactly when every declared market has a home for every service', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { policy } = scenario;
        const services = policy.services.map((s) => s.id);
        const declaredPlaced = policy.markets.every((m) =>
          services.every((s) => 'home' in tryHome(policy, m.country, s)),
        );
        // Unlisted markets need not be placed for every service, but where a default rule
        // places them, it must offer an active region.
        const unlistedPlaced = services.every(
          (s) => allowedRegions(policy, UNLISTED, s) === undefined || 'home' in tryHome(policy, UNLISTED, s),
        );
        expect(checkPolicy(policy).length === 0).toBe(declaredPlaced && unlistedPlaced);
      }),
      { numRuns: 500 },
    );
  });
});
