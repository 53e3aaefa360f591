import type { Latency } from '../../src/wan/latency-schema.js';
import { parseLatency } from '../../src/wan/load-latency.js';

/**
 * A latency file for tests: round numbers far apart, so that what a client measures shows at
 * once which link it was charged (test figures, not measurements: the source says so).
 * India's users are in Mumbai (20 ms last mile), 380 ms of backbone from Beijing and 80 from
 * Singapore; Singapore's (5 ms) are 195 ms from Beijing; every other pair is 145 ms (markets)
 * or 80 ms (regions) apart.
 */
export function testLatencyYaml(): string {
  const regions: Record<string, string> = {
    'cn-beijing': 'Beijing',
    'us-california': 'San Jose',
    'us-oregon': 'Portland',
    'sg-singapore': 'Singapore',
    'in-mumbai': 'Mumbai',
    'br-saopaulo': 'Sao Paulo',
  };
  const cityOf: Record<string, string> = { CN: 'Beijing', IN: 'Mumbai', SG: 'Singapore', BR: 'Sao Paulo' };
  const markets = ['CN', 'HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW', 'US', 'BR'];
  const special: Record<string, number> = { 'Mumbai|Beijing': 380, 'Mumbai|Singapore': 80, 'Singapore|Beijing': 195 };
  const regionCities = Object.values(regions);
  const cities = [...new Set([...regionCities, ...markets.map((m) => cityOf[m] ?? `${m} City`)])];
  const pairs: string[] = [];
  for (const [i, a] of cities.entries()) {
    for (const b of cities.slice(i + 1)) {
      const ms =
        special[`${a}|${b}`] ??
        special[`${b}|${a}`] ??
        (regionCities.includes(a) && regionCities.includes(b) ? 80 : 145);
      pairs.push(`  - { cities: [${a}, ${b}], ms: ${ms}, source: test }`);
    }
  }
  return `name: test-wan
model: { handshakeRoundTrips: 3, initialWindowBytes: 14600 }
sources:
  - { id: test, title: "Test figures, not measurements", url: "https://example.org/test", retrieved: "2026-11-30" }
markets:
${markets.map((m) => `  ${m}: { city: ${cityOf[m] ?? `${m} City`}, access: { ms: ${m === 'IN' ? 20 : 5}, source: test } }`).join('\n')}
regions:
${Object.entries(regions)
  .map(([id, city]) => `  ${id}: { city: ${city} }`)
  .join('\n')}
backbone:
${pairs.join('\n')}
`;
}

/** The test figures, each divided by `divide` (a quicker run of the same shape). */
export function testLatency(divide = 1): Latency {
  const parsed = parseLatency(testLatencyYaml(), 'test-latency.yaml');
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('\n'));
  const l = parsed.value;
  if (divide === 1) return l;
  return {
    ...l,
    markets: Object.fromEntries(
      Object.entries(l.markets).map(([m, x]) => [
        m,
        { ...x, ...(x.access ? { access: { ...x.access, ms: x.access.ms / divide } } : {}) },
      ]),
    ),
    backbone: l.backbone.map((b) => ({ ...b, ms: b.ms / divide })),
  };
}
