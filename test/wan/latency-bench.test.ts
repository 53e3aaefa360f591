import { describe, expect, it } from 'vitest';
import { latencyBench } from '../../bench/latency-bench.js';
import { operations } from '../../src/wan/latency-forecast.js';
import { testLatency } from './test-latency.js';

describe('domicile bench latency, end to end on quick figures', () => {
  it('runs the scenario through its four phases, measures every market, and judges every claim', async () => {
    const report = await latencyBench({
      latency: testLatency(10),
      samples: { 'store page': 1, 'account request': 2, 'photo sync': 1 },
      log: () => {},
    });
    expect(report.phases.map((p) => [p.phase, p.cdn])).toEqual([
      ['before', false],
      ['phase1', true],
      ['phase2', true],
      ['phase3', true],
    ]);
    expect(report.markets).toEqual(['CN', 'HK', 'IN', 'ID', 'MY', 'PH', 'SG', 'TW', 'US', 'BR']);
    // Each phase's migration ran before its measurements.
    expect(report.phases.slice(1).every((p) => p.migration !== null && p.migration.rows > 0)).toBe(true);
    const india = (phase: string) => report.phases.find((p) => p.phase === phase)!.markets.IN!;
    expect(india('before')['account request'].home).toBe('cn-beijing');
    expect(india('phase2')['account request'].home).toBe('sg-singapore');
    expect(india('phase3')['account request'].home).toBe('in-mumbai');
    // What a client measured includes every millisecond the model says the network costs (less
    // one: Node's timers count from the event loop's clock, which may be up to a millisecond old).
    for (const p of report.phases) {
      for (const [market, ops] of Object.entries(p.markets)) {
        for (const op of operations)
          expect(ops[op].p50, `${p.phase} ${market} ${op}`).toBeGreaterThanOrEqual(ops[op].forecastMs - 1);
      }
    }
    // India's account requests follow its data home: 40 ms away in Beijing, 2 ms in Mumbai (the test figures / 10).
    expect(india('before')['account request'].p50).toBeGreaterThan(india('phase3')['account request'].p50);
    expect(report.claims.map((c) => `${c.market}: ${c.verdict === 'not judged' ? 'not judged' : 'judged'}`)).toEqual([
      'SG: judged',
      'HK: judged',
      'TW: judged',
      'IN: judged',
      'IN: judged',
      'MY: judged',
    ]);
  }, 120_000);
});
