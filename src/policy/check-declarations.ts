import { commonCountryCodeMistakes, isIsoCountryCode } from './iso-countries.js';
import { formatPath } from './policy-problem.js';
import type { PolicyFinding, PolicyPath } from './policy-problem.js';
import type { Policy } from './policy-schema.js';

/** How a finding refers to another place in the policy: "line 12" in a file, a path otherwise. */
export type Refer = (path: PolicyPath) => string;

/**
 * Checks of what a policy declares, beyond its shape: ids are unique, country codes are
 * assigned ISO 3166-1 codes, consent names a declared purpose, and no two regions share a
 * store or a keyring (a region alone opens its store and its keys).
 */
export function checkDeclarations(policy: Policy, refer: Refer = formatPath): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  findings.push(...duplicates(policy.regions, (r) => r.id, ['regions'], 'id', 'region', refer));
  findings.push(...duplicates(policy.markets, (m) => m.country, ['markets'], 'country', 'market', refer));
  findings.push(...duplicates(policy.purposes, (p) => p.id, ['purposes'], 'id', 'purpose', refer));
  findings.push(...duplicates(policy.services, (s) => s.id, ['services'], 'id', 'service', refer));
  policy.services.forEach((service, si) => {
    findings.push(...duplicates(service.categories, (c) => c.id, ['services', si, 'categories'], 'id', 'category', refer, `in service ${service.id}`));
  });

  policy.markets.forEach((market, i) => {
    const finding = countryFinding(market.country, ['markets', i, 'country']);
    if (finding) findings.push(finding);
  });
  policy.regions.forEach((region, i) => {
    const finding = countryFinding(region.location.country, ['regions', i, 'location', 'country']);
    if (finding) findings.push(finding);
  });

  const purposes = policy.purposes.map((p) => p.id);
  policy.services.forEach((service, si) => {
    service.categories.forEach((category, ci) => {
      if (category.consent === undefined || purposes.includes(category.consent)) return;
      const fix = purposes.length > 0 ? `write one of: ${purposes.join(', ')}` : 'declare it under purposes (id, description)';
      findings.push({ path: ['services', si, 'categories', ci, 'consent'], message: `unknown purpose "${category.consent}"; ${fix}` });
    });
  });

  findings.push(...sharedStorage(policy, refer));
  return findings;
}

function duplicates<T>(
  items: readonly T[],
  idOf: (item: T) => string,
  prefix: PolicyPath,
  key: string,
  kind: string,
  refer: Refer,
  scope?: string,
): PolicyFinding[] {
  const first = new Map<string, number>();
  const findings: PolicyFinding[] = [];
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
  return findings;
}

function countryFinding(code: string, path: PolicyPath): PolicyFinding | undefined {
  if (isIsoCountryCode(code)) return undefined;
  const meant = commonCountryCodeMistakes[code];
  const fix = meant === undefined ? 'write an assigned code, for example IN, SG or US' : `write ${meant} instead`;
  return { path, message: `"${code}" is not an assigned ISO 3166-1 alpha-2 country code; ${fix}` };
}

/** Two regions on one SQLite file or one keyring would let one region's node open the other's data. */
function sharedStorage(policy: Policy, refer: Refer): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const stores = new Map<string, number>();
  const keyrings = new Map<string, number>();
  policy.regions.forEach((region, i) => {
    const store = region.store.kind === 'sqlite' ? region.store.path : region.store.url;
    if (store !== undefined) {
      const other = stores.get(store);
      if (other === undefined) stores.set(store, i);
      else {
        const owner = `region ${policy.regions[other]?.id} (${refer(['regions', other, 'store'])})`;
        findings.push({ path: ['regions', i, 'store'], message: `region ${region.id} uses the same store as ${owner}; give every region a store of its own` });
      }
    }
    const keyring = region.keys.path;
    if (keyring !== undefined) {
      const other = keyrings.get(keyring);
      if (other === undefined) keyrings.set(keyring, i);
      else {
        const owner = `region ${policy.regions[other]?.id} (${refer(['regions', other, 'keys'])})`;
        findings.push({ path: ['regions', i, 'keys'], message: `region ${region.id} uses the same keyring as ${owner}; give every region a keyring of its own` });
      }
    }
  });
  return findings;
}
