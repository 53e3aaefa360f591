import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/** `domicile demo` replays the scenario and reports each phase; nothing may be lost or stale. */
describe('domicile demo', () => {
  it('moves each phase under traffic from every market, losing nothing, and prints one JSON object', async () => {
    const res = await runCli(['demo', '--json', '--users-per-market', '1']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as {
      clean: boolean;
      phases: Array<{
        phase: string;
        moved: Array<{ service: string; to: string; markets: string[] }>;
        migration: { transfers: number } | null;
        traffic: Record<string, number>;
        residency: { violations: number };
      }>;
    };
    expect(report.clean).toBe(true);
    expect(report.phases.map((p) => p.phase)).toEqual(['phase1', 'phase2', 'phase3']);
    for (const p of report.phases) {
      expect(p.migration?.transfers, p.phase).toBeGreaterThan(0);
      expect(p.traffic.writes, p.phase).toBeGreaterThan(0);
      expect([p.traffic.lost, p.traffic.staleReads, p.traffic.errors, p.residency.violations], p.phase).toEqual([
        0, 0, 0, 0,
      ]);
    }
    const [phase1, , phase3] = report.phases;
    expect(phase1!.moved.every((m) => m.service === 'shop')).toBe(true);
    expect(phase3!.moved).toContainEqual(
      expect.objectContaining({ service: 'shop', to: 'in-mumbai', markets: ['IN'] }),
    );
    expect(phase3!.moved.some((m) => m.to === 'br-saopaulo')).toBe(false);
  });
});
