import type { Latency } from '../../src/wan/latency-schema.js';
import { parseLatency } from '../../src/wan/load-latency.js';

/**
 * A latency file for tests: round numbers far apart, so that what a client measures shows at
 * once which link it was charged (they are test figures, not measurements; the source says so).
 */
export function testLatencyYaml(): string {
  const regions = ['cn-beijing', 'us-california', 'us-oregon', 'sg-singapore', 'in-mumbai'];
  const rtt: Record<string, Record<string, number>> = {
    IN: { 'cn-beijing': 400, 'sg-singapore': 100, 'in-mumbai': 20, 'us-california': 300, 'us-oregon': 300 },
    SG: { 'cn-beijing': 200, 'sg-singapore': 10, 'in-mumbai': 100, 'us-california': 250, 'us-oregon': 250 },
  };
  const markets = ['CN', 'HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW', 'US', 'BR'].map((m) => {
    const lines = regions.map((r) => `      ${r}: { ms: ${rtt[m]?.[r] ?? 150}, source: test }`).join('\n');
    return `  ${m}:\n    edge: { ms: ${m === 'IN' ? 30 : 5}, source: test }\n    regions:\n${lines}`;
  }).join('\n');
  const between = regions.flatMap((a, i) => regions.slice(i + 1).map((b) => `  - { regions: [${a}, ${b}], ms: 80, source: test }`)).join('\n');
  return `name: test-wan
model: { handshakeRoundTrips: 3, initialWindowBytes: 14600 }
sources:
  - { id: test, title: "Test figures, not measurements", url: "https://example.org/test", retrieved: "2026-11-30" }
markets:
${markets}
between:
${between}
`;
}

export function testLatency(): Latency {
  const parsed = parseLatency(testLatencyYaml(), 'test-latency.yaml');
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('\n'));
  return parsed.value;
}
