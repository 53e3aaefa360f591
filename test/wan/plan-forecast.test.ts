import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forecastChange } from '../../src/cli/format-forecast.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { loadLatencyFile } from '../../src/wan/load-latency.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

describe('the latency forecast of a policy change', () => {
  const data = tempDir('plan-forecast');
  afterAll(() => data.remove());

  it("follows placement: India's requests get faster when its data comes home to Mumbai, Singapore's do not change", async () => {
    const latency = await loadLatencyFile(join(examplesDir, 'latency.yaml'));
    const rows = forecastChange(
      latency,
      await loadPolicyFile(join(examplesDir, 'phase2.yaml')),
      await loadPolicyFile(join(examplesDir, 'phase3.yaml')),
    );
    const india = rows.find((r) => r.market === 'IN')!;
    const singapore = rows.find((r) => r.market === 'SG')!;
    // One round trip on an open connection (its 500 bytes fit the first window): New Delhi's last
    // mile plus the backbone to Singapore (69 ms), then to Pune (28.6 ms).
    expect(india.from['account request']).toBeCloseTo(36 + 69, 5);
    expect(india.to['account request']).toBeCloseTo(36 + 28.6, 5);
    expect(india.to['photo sync']).toBeLessThan(india.from['photo sync']);
    expect(singapore.to).toEqual(singapore.from);
    // No published access round trip: no forecast rather than a made-up one.
    expect(rows.map((r) => r.market)).not.toContain('TW');
  });

  it('is printed by domicile plan for a policy change, and a bad latency file changes nothing', async () => {
    const planned = await runCli([
      'plan',
      '--from',
      'examples/phase2.yaml',
      '--to',
      'examples/phase3.yaml',
      '--data',
      data.path,
    ]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(
      /Latency forecast: network time alone, from the round trips of .*latency\.yaml \(xiaomi-2014-wan\)/,
    );
    expect(planned.stdout).toMatch(/\nIN +\d+ → \d+ ms \(−\d+%\) +\d+ → \d+ ms \(−\d+%\)/);
    expect(planned.stdout).toMatch(/No forecast for CN, TW: .* has no access round trip for them/);
    const bad = await runCli([
      'plan',
      '--from',
      'examples/phase2.yaml',
      '--to',
      'examples/phase3.yaml',
      '--data',
      data.path,
      '--latency',
      'examples/phase3.yaml',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/examples\/phase3\.yaml:\d+:\d+/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('still prints the plan of a policy the latency file does not cover, saying what the forecast needs', async () => {
    const chennai = join(data.path, 'phase3-chennai.yaml');
    writeFileSync(
      chennai,
      readFileSync(join(examplesDir, 'phase3.yaml'), 'utf8').replaceAll('in-mumbai', 'in-chennai'),
    );
    const planned = await runCli(['plan', '--from', 'examples/phase2.yaml', '--to', chennai, '--data', data.path]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(/in-chennai/);
    expect(planned.stdout).toMatch(
      /No latency forecast: .*latency\.yaml \(xiaomi-2014-wan\) has no figure for region in-chennai \(regions\.in-chennai\.city\)/,
    );
  }, 60_000);
});
