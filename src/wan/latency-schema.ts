import { z } from 'zod';
import type { PolicyFinding } from '../policy/policy-problem.js';
import { countryCode } from '../shared/country-code.js';

/**
 * The latency file: measured round-trip times, every figure naming its public source. A
 * market's users reach a region in their access round trip (the last mile, to a server in their
 * own city: also what their CDN edge costs) plus the backbone round trip between their city and
 * the region's; two regions reach each other in the backbone round trip between their cities. `domicile up --emulate-wan`, `domicile bench latency` and `domicile plan`
 * read it; it is validated like a policy (located problems, names that resolve).
 */

const id = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'an id is lower-case letters, digits and dashes, starting with a letter (for example "sg-singapore")',
  );
const country = countryCode('a market');

const figureSchema = z
  .object({
    ms: z.number().positive().max(2000).describe('Round-trip time in milliseconds.'),
    source: id.describe('The id of an entry of `sources`.'),
    note: z
      .string()
      .min(1)
      .optional()
      .describe('What exactly was measured: the cities, the statistic (median, average), when.'),
  })
  .strict();

const bandwidthSchema = z
  .object({
    mbps: z.number().positive().max(100_000).describe('Megabits per second.'),
    source: id,
    note: z.string().min(1).optional(),
  })
  .strict();

const sourceSchema = z
  .object({
    id,
    title: z.string().min(1),
    url: z.string().regex(/^https?:\/\//, 'a source is cited by its http(s) address'),
    retrieved: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'the date the figures were read, as YYYY-MM-DD'),
  })
  .strict();

const city = z.string().min(1).max(80).describe('A city the backbone figures name, for example "Singapore".');

const marketLatencySchema = z
  .object({
    city: city.describe("Where the market's users are taken to be, for the backbone figures."),
    access: figureSchema
      .optional()
      .describe(
        "Round trip from a user to a server in their own city: the last mile. It is also what reaching the market's CDN edge costs. Without it (no published figure), the market's users are not emulated.",
      ),
    bandwidth: bandwidthSchema
      .optional()
      .describe("Typical connection speed of the market's users; without it, transfers cost round trips only."),
  })
  .strict();

export const latencySchema = z
  .object({
    name: id,
    description: z.string().optional(),
    model: z
      .object({
        handshakeRoundTrips: z
          .number()
          .int()
          .min(0)
          .max(5)
          .describe('Round trips before a new connection carries a request: TCP (1) plus TLS 1.2 (2), or TLS 1.3 (1).'),
        initialWindowBytes: z
          .number()
          .int()
          .min(1460)
          .max(1_000_000)
          .describe("TCP's initial congestion window (RFC 6928: 10 segments, 14,600 bytes)."),
      })
      .strict(),
    sources: z.array(sourceSchema).min(1),
    markets: z.record(country, marketLatencySchema),
    regions: z.record(
      id,
      z
        .object({
          city: city.describe("The city whose backbone figures stand for the region's data centre."),
          note: z.string().min(1).optional(),
        })
        .strict(),
    ),
    backbone: z
      .array(
        z
          .object({
            cities: z.tuple([city, city]).describe('Two cities; the figure holds both ways.'),
            ms: figureSchema.shape.ms,
            source: id,
            note: z.string().min(1).optional(),
          })
          .strict(),
      )
      .describe('Round trips between data centres of two cities.'),
  })
  .strict();

export type Latency = z.output<typeof latencySchema>;
export type Figure = z.output<typeof figureSchema>;

/** Names that must resolve inside the file: every source cited, every city pair once. */
export function checkLatency(latency: Latency): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const sources = new Set<string>();
  latency.sources.forEach((s, i) => {
    if (sources.has(s.id))
      findings.push({
        path: ['sources', i, 'id'],
        message: `source "${s.id}" is listed twice; give each source one entry`,
      });
    sources.add(s.id);
  });
  const cited = (source: string, path: Array<string | number>): void => {
    if (!sources.has(source))
      findings.push({ path, message: `no source "${source}" in sources; use one of: ${[...sources].join(', ')}` });
  };
  for (const [market, m] of Object.entries(latency.markets)) {
    if (m.access) cited(m.access.source, ['markets', market, 'access', 'source']);
    if (m.bandwidth) cited(m.bandwidth.source, ['markets', market, 'bandwidth', 'source']);
  }
  const pairs = new Map<string, number>();
  latency.backbone.forEach((b, i) => {
    cited(b.source, ['backbone', i, 'source']);
    const [a, c] = b.cities;
    if (a === c)
      findings.push({
        path: ['backbone', i, 'cities'],
        message: `a round trip within "${a}" is not a backbone figure; name two cities`,
      });
    const key = [a, c].sort().join('\u0000');
    const first = pairs.get(key);
    if (first !== undefined)
      findings.push({
        path: ['backbone', i, 'cities'],
        message: `cities ${a} and ${c} have a figure already (backbone[${first}]); keep one`,
      });
    else pairs.set(key, i);
  });
  return findings;
}

/** The backbone round trip between two cities: 0 within one, undefined when the file has none. */
export function backboneMs(latency: Latency, a: string, b: string): number | undefined {
  if (a === b) return 0;
  return latency.backbone.find((p) => p.cities.includes(a) && p.cities.includes(b))?.ms;
}
