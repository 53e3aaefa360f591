import { DomicileError } from '../errors/domicile-error.js';
import { parseYamlFile, readYamlText, type ParseYamlResult, type YamlFileKind } from '../policy/parse-yaml-file.js';
import { formatProblems } from '../policy/policy-problem.js';
import { liveRegions } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import { checkLatency, latencySchema, type Latency } from './latency-schema.js';

const latencyKind: YamlFileKind = {
  noun: 'latency file',
  expected: 'a latency file is a mapping with the keys name, model, sources, markets and between',
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
  if (!result.ok) throw new DomicileError('BAD_REQUEST', formatProblems(result.problems), { details: { problems: result.problems } });
  return result.value;
}

/**
 * What a policy needs of a latency file and it lacks: a figure from every market to every
 * region that runs, and between every two such regions. Empty when it covers the policy.
 */
export function missingFigures(latency: Latency, policy: Policy): string[] {
  const regions = liveRegions(policy).map((r) => r.id);
  const missing: string[] = [];
  for (const market of policy.markets.map((m) => m.country)) {
    const m = latency.markets[market];
    if (!m) {
      missing.push(`market ${market} (markets.${market}: its edge and its round trips to ${regions.join(', ')})`);
      continue;
    }
    for (const region of regions) if (!m.regions[region]) missing.push(`${market} → ${region} (markets.${market}.regions.${region})`);
  }
  for (const [i, a] of regions.entries()) {
    for (const b of regions.slice(i + 1)) {
      if (!latency.between.some((p) => p.regions.includes(a) && p.regions.includes(b))) missing.push(`${a} ↔ ${b} (between)`);
    }
  }
  return missing;
}

/** The latency file, refused (BAD_REQUEST naming each missing figure) unless it covers the policy. */
export function requireCoverage(latency: Latency, policy: Policy, file: string): Latency {
  const missing = missingFigures(latency, policy);
  if (missing.length > 0) {
    throw new DomicileError('BAD_REQUEST', `latency file ${file} (${latency.name}) has no figure for what policy "${policy.name}" runs: ${missing.join('; ')}; add them, each with its source`, {
      details: { missing },
    });
  }
  return latency;
}
