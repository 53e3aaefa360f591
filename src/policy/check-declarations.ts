import { commonCountryCodeMistakes, isIsoCountryCode } from './iso-countries.js';
import type { PolicyFinding, PolicyPath } from './policy-problem.js';
import { formatPath } from './policy-problem.js';
import type { Policy } from './policy-schema.js';

/** How a finding refers to another place in the policy: "line 12" in a file, a path otherwise. */
export type Refer = (path: PolicyPath) => string;

/**
 * Checks of what a policy declares, beyond its shape: ids are unique, country codes are
 * assigned ISO 3166-1 codes, consent names a declared purpose, and no two regions share a
 * store or a keyring (a region alone opens its store and its keys).
 */
export function checkDeclarations(policy: Policy, refer: Refer = formatPath): PolicyFinding[] {
  // Pushed one by one: spreading a list of many findings into push() overflows the stack.
  const findings: PolicyFinding[] = [];
  duplicates(findings, policy.regions, (r) => r.id, ['regions'], 'id', 'region', refer);
  duplicates(findings, policy.markets, (m) => m.country, ['markets'], 'country', 'market', refer);
  duplicates(findings, policy.purposes, (p) => p.id, ['purposes'], 'id', 'purpose', refer);
  duplicates(findings, policy.services, (s) => s.id, ['services'], 'id', 'service', refer);
  policy.services.forEach((service, si) => {
    duplicates(
      findings,
      service.categories,
      (c) => c.id,
      ['services', si, 'categories'],
      'id',
      'category',
      refer,
      `in service ${service.id}`,
    );
  });

  policy.markets.forEach((market, i) => {
    const finding = countryFinding(market.country, ['markets', i, 'country']);
    if (finding) findings.push(finding);
  });
  policy.regions.forEach((region, i) => {
    const finding = countryFinding(region.location.country, ['regions', i, 'location', 'country']);
    if (finding) findings.push(finding);
  });

  const purposes = new Set(policy.purposes.map((p) => p.id));
  const fix =
    purposes.size > 0 ? `write one of: ${[...purposes].join(', ')}` : 'declare it under purposes (id, description)';
  policy.services.forEach((service, si) => {
    service.categories.forEach((category, ci) => {
      if (category.consent === undefined || purposes.has(category.consent)) return;
      findings.push({
        path: ['services', si, 'categories', ci, 'consent'],
        message: `unknown purpose "${category.consent}"; ${fix}`,
      });
    });
  });

  sharedStorage(findings, policy, refer);
  return findings;
}

/** Adds to `findings` every item whose id an earlier item has. */
function duplicates<T>(
  findings: PolicyFinding[],
  items: readonly T[],
  idOf: (item: T) => string,
  prefix: PolicyPath,
  key: string,
  kind: string,
  refer: Refer,
  scope?: string,
): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const id = idOf(item);
    const seen = first.get(id);
    if (seen === undefined) {
      first.set(id, i);
      return;
    }
    findings.push({
      path: [...prefix, i, key],
      message: `duplicate ${kind} "${id}"${scope === undefined ? '' : ` ${scope}`} (first at ${refer([...prefix, seen, key])}); declare each ${kind} once`,
    });
  });
}

function countryFinding(code: string, path: PolicyPath): PolicyFinding | undefined {
  if (isIsoCountryCode(code)) return undefined;
  const meant = commonCountryCodeMistakes[code];
  const fix = meant === undefined ? 'write an assigned code, for example IN, SG or US' : `write ${meant} instead`;
  return { path, message: `"${code}" is not an assigned ISO 3166-1 alpha-2 country code; ${fix}` };
}

/** Two regions on one SQLite file or one keyring would let one region's node open the other's data. */
function sharedStorage(findings: PolicyFinding[], policy: Policy, refer: Refer): void {
  const stores = new Map<string, number>();
  const keyrings = new Map<string, number>();
  policy.regions.forEach((region, i) => {
    const store = region.store.kind === 'sqlite' ? region.store.path : region.store.url;
    if (store !== undefined) {
      const other = stores.get(store);
      if (other === undefined) stores.set(store, i);
      else {
        const owner = `region ${policy.regions[other]?.id} (${refer(['regions', other, 'store'])})`;
        findings.push({
          path: ['regions', i, 'store'],
          message: `region ${region.id} uses the same store as ${owner}; give every region a store of its own`,
        });
      }
    }
    const keyring = region.keys.path;
    if (keyring !== undefined) {
      const other = keyrings.get(keyring);
      if (other === undefined) keyrings.set(keyring, i);
      else {
        const owner = `region ${policy.regions[other]?.id} (${refer(['regions', other, 'keys'])})`;
        findings.push({
          path: ['regions', i, 'keys'],
          message: `region ${region.id} uses the same keyring as ${owner}; give every region a keyring of its own`,
        });
      }
    }
  });
}
