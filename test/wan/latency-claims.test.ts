import { describe, expect, it } from 'vitest';
import { evaluateClaims } from '../../bench/latency-claims.js';
import type { OperationResult, PhaseMeasurement } from '../../bench/latency-measurement.js';
import { defaultSizes, type Operation, operations } from '../../src/wan/latency-forecast.js';
import { testLatency } from './test-latency.js';

const result = (p50: number, home = 'cn-beijing'): OperationResult => ({
  p50,
  p95: p50 * 1.2,
  samples: 10,
  forecastMs: p50 * 0.9,
  home,
  rttMs: 100,
});

/** One phase's measurements: p50 per market and operation (others 1,000 ms). */
function phase(name: string, cdn: boolean, p50s: Record<string, Partial<Record<Operation, number>>>): PhaseMeasurement {
  const markets = Object.fromEntries(
    Object.entries(p50s).map(([m, ops]) => [
      m,
      Object.fromEntries(operations.map((op) => [op, result(ops[op] ?? 1000)])),
    ]),
  );
  return { phase: name, cdn, markets: markets as PhaseMeasurement['markets'], migration: null };
}

describe("the latency bench's verdicts on the articles' claims", () => {
  it('judges each claim per market against before, and says when a market was not emulated', () => {
    const results = [
      phase('before', false, {
        SG: { 'store page': 1000 },
        HK: { 'store page': 1000 },
        IN: { 'store page': 3000, 'account request': 600 },
        MY: { 'photo sync': 9000 },
      }),
      phase('phase1', true, {
        SG: { 'store page': 700 },
        HK: { 'store page': 900 },
        IN: { 'store page': 500, 'account request': 600 },
        MY: { 'photo sync': 9000 },
      }),
      phase('phase2', true, {
        SG: { 'store page': 700 },
        HK: { 'store page': 900 },
        IN: { 'store page': 500, 'account request': 300 },
        MY: { 'photo sync': 4000 },
      }),
    ];
    const verdicts = evaluateClaims(results, testLatency(), defaultSizes);
    const of = (market: string, claim: RegExp) => verdicts.find((v) => v.market === market && claim.test(v.claim));
    expect(of('SG', /at least 30%/)).toMatchObject({ measured: 'speed +43%', verdict: 'reproduced' });
    expect(of('HK', /at least 30%/)).toMatchObject({ measured: 'speed +11%', verdict: 'smaller than claimed' });
    expect(of('TW', /at least 30%/)).toMatchObject({
      verdict: 'not judged',
      explanation: expect.stringMatching(/TW is not emulated/),
    });
    // 3,000 → 500 ms is +500%: far past "up to 200%".
    expect(of('IN', /up to 200%/)).toMatchObject({ measured: 'speed +500%', verdict: 'larger than claimed' });
    expect(of('IN', /350 ms/)).toMatchObject({ measured: '−300 ms', verdict: 'reproduced' });
    expect(of('MY', /2-3×/)).toMatchObject({ measured: '2.3× faster', verdict: 'reproduced' });
    expect(of('MY', /2-3×/)?.explanation).toMatch(/^p50 9000 → 4000 ms; cloud stayed in cn-beijing/);
  });
});
