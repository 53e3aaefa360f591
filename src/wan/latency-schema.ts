import { z } from 'zod';
import type { PolicyFinding } from '../policy/policy-problem.js';

/**
 * The latency file: measured round-trip times between each market's users and each region,
 * between regions, and from each market to its nearest CDN edge, every figure naming its
 * public source. `domicile up --emulate-wan`, `domicile bench latency` and `domicile plan`
 * read it; it is validated like a policy (located problems, names that resolve).
 */

const id = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'an id is lower-case letters, digits and dashes, starting with a letter (for example "sg-singapore")');
const country = z.string().regex(/^[A-Z]{2}$/, 'a market is an ISO 3166-1 alpha-2 country code in capitals, for example IN');

export const figureSchema = z.object({
  ms: z.number().positive().max(2000).describe('Round-trip time in milliseconds.'),
  source: id.describe('The id of an entry of `sources`.'),
  note: z.string().min(1).optional().describe('What exactly was measured: the cities, the statistic (median, average), when.'),
}).strict();

export const bandwidthSchema = z.object({
  mbps: z.number().positive().max(100_000).describe('Megabits per second.'),
  source: id,
  note: z.string().min(1).optional(),
}).strict();

export const sourceSchema = z.object({
  id,
  title: z.string().min(1),
  url: z.string().regex(/^https?:\/\//, 'a source is cited by its http(s) address'),
  retrieved: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'the date the figures were read, as YYYY-MM-DD'),
}).strict();

export const marketLatencySchema = z.object({
  edge: figureSchema.describe("Round trip to the market's nearest CDN edge: what static content served by the edge cache costs."),
  bandwidth: bandwidthSchema.optional().describe("Typical connection speed of the market's users; without it, transfers cost round trips only."),
  regions: z.record(id, figureSchema).describe('Round trip from the market\'s users to each region.'),
}).strict();

export const latencySchema = z.object({
  name: id,
  description: z.string().optional(),
  model: z.object({
    handshakeRoundTrips: z.number().int().min(0).max(5).describe('Round trips before a new connection carries a request: TCP (1) plus TLS 1.2 (2), or TLS 1.3 (1).'),
    initialWindowBytes: z.number().int().min(1460).max(1_000_000).describe("TCP's initial congestion window (RFC 6928: 10 segments, 14,600 bytes)."),
  }).strict(),
  sources: z.array(sourceSchema).min(1),
  markets: z.record(country, marketLatencySchema),
  between: z.array(z.object({
    regions: z.tuple([id, id]).describe('Two regions; the figure holds both ways.'),
    ms: figureSchema.shape.ms,
    source: id,
    note: z.string().min(1).optional(),
  }).strict()).describe('Round trips between regions, for requests that reach a second region.'),
}).strict();

export type Latency = z.output<typeof latencySchema>;
export type Figure = z.output<typeof figureSchema>;

/** Names that must resolve inside the file: every source cited, every region pair once. */
export function checkLatency(latency: Latency): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const sources = new Set<string>();
  latency.sources.forEach((s, i) => {
    if (sources.has(s.id)) findings.push({ path: ['sources', i, 'id'], message: `source "${s.id}" is listed twice; give each source one entry` });
    sources.add(s.id);
  });
  const cited = (source: string, path: Array<string | number>): void => {
    if (!sources.has(source)) findings.push({ path, message: `no source "${source}" in sources; use one of: ${[...sources].join(', ')}` });
  };
  for (const [market, m] of Object.entries(latency.markets)) {
    cited(m.edge.source, ['markets', market, 'edge', 'source']);
    if (m.bandwidth) cited(m.bandwidth.source, ['markets', market, 'bandwidth', 'source']);
    for (const [region, f] of Object.entries(m.regions)) cited(f.source, ['markets', market, 'regions', region, 'source']);
  }
  const pairs = new Map<string, number>();
  latency.between.forEach((b, i) => {
    cited(b.source, ['between', i, 'source']);
    const [a, c] = b.regions;
    if (a === c) findings.push({ path: ['between', i, 'regions'], message: `a round trip between "${a}" and itself is not a figure; name two regions` });
    const key = [a, c].sort().join(' ');
    const first = pairs.get(key);
    if (first !== undefined) findings.push({ path: ['between', i, 'regions'], message: `regions ${a} and ${c} have a figure already (between[${first}]); keep one` });
    else pairs.set(key, i);
  });
  return findings;
}
