import { DomicileError } from '../errors/domicile-error.js';
import { type ParseYamlResult, parseYamlFile, readYamlText, type YamlFileKind } from '../policy/parse-yaml-file.js';
import { liveRegions } from '../policy/placement.js';
import { formatProblems } from '../policy/policy-problem.js';
import type { Policy } from '../policy/policy-schema.js';
import { backboneMs, checkLatency, type Latency, latencySchema } from './latency-schema.js';

const latencyKind: YamlFileKind = {
  noun: 'latency file',
  expected: 'a latency file is a mapping with the keys name, model, sources, markets, regions and backbone',
  example: 'examples/latency.yaml',
};

export function parseLatency(text: string, file: string): ParseYamlResult<Latency> {
  return parseYamlFile(text, file, latencyKind, latencySchema, checkLatency);
}

/**
 * Reads and validates a latency file: BAD_REQUEST with one `file:line:column path: message`
 * per problem (and `details.problems`) for a file that is missing, unreadable or invalid.
 */
export async function loadLatencyFile(path: string): Promise<Latency> {
  const read = await readYamlText(path, latencyKind);
  const result = read.ok ? parseLatency(read.text, path) : read;
  if (!result.ok)
    throw new DomicileError('BAD_REQUEST', formatProblems(result.problems), { details: { problems: result.problems } });
  return result.value;
}

/**
 * What a policy needs of a latency file and it lacks: every market's city, every running
 * region's city, and a backbone figure from each market's city to each region's and between
 * every two regions' cities. Empty when it covers the policy. (A market without an access
 * figure is covered but not emulated: see emulatedMarkets.)
 */
export function missingFigures(latency: Latency, policy: Policy): string[] {
  const regions = liveRegions(policy).map((r) => r.id);
  const missing: string[] = [];
  const cities = new Map<string, string>();
  for (const region of regions) {
    const r = latency.regions[region];
    if (r) cities.set(region, r.city);
    else missing.push(`region ${region} (regions.${region}.city)`);
  }
  const asked = new Set<string>();
  const pair = (a: string, b: string): void => {
    const key = [a, b].sort().join('\u0000');
    if (asked.has(key)) return;
    asked.add(key);
    if (backboneMs(latency, a, b) === undefined) missing.push(`${a} ↔ ${b} (backbone)`);
  };
  for (const market of policy.markets.map((m) => m.country)) {
    const m = latency.markets[market];
    if (!m) {
      missing.push(`market ${market} (markets.${market}: its city and access round trip)`);
      continue;
    }
    for (const city of cities.values()) pair(m.city, city);
  }
  const regionCities = [...cities.values()];
  for (const [i, a] of regionCities.entries()) for (const b of regionCities.slice(i + 1)) pair(a, b);
  return missing;
}

/** The markets whose users can be emulated: those with an access round trip. */
export function emulatedMarkets(latency: Latency, policy: Policy): string[] {
  return policy.markets.map((m) => m.country).filter((c) => latency.markets[c]?.access !== undefined);
}

/** The latency file, refused (BAD_REQUEST naming each missing figure) unless it covers the policy. */
export function requireCoverage(latency: Latency, policy: Policy, file: string): Latency {
  const missing = missingFigures(latency, policy);
  if (missing.length > 0) {
    throw new DomicileError(
      'BAD_REQUEST',
      `latency file ${file} (${latency.name}) has no figure for what policy "${policy.name}" runs: ${missing.join('; ')}; add them, each with its source`,
      {
        details: { missing },
      },
    );
  }
  return latency;
}
