import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Platform } from '../../src/platform/platform.js';
import { routeToHome } from '../../src/platform/route-to-home.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { registerAccount } from '../../src/services/account/account-service.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

describe('domicile policy check', () => {
  const dir = tempDir('cli-policy');
  afterAll(() => dir.remove());

  it('accepts every shipped policy with exit code 0', async () => {
    for (const phase of ['before', 'phase1', 'phase2', 'phase3']) {
      const res = await runCli(['policy', 'check', join(examplesDir, `${phase}.yaml`)]);
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`policy "${phase}" version \\d+ is valid`));
    }
  });

  it('names the file, the line and the fix for a bad policy, with exit code 1', async () => {
    const text = (await import('node:fs'))
      .readFileSync(join(examplesDir, 'phase3.yaml'), 'utf8')
      .replace('    regions: [in-mumbai]\n', '    regions: [in-mumbay]\n');
    const file = join(dir.path, 'typo.yaml');
    writeFileSync(file, text);
    const line = text.split('\n').findIndex((l) => l.includes('in-mumbay')) + 1;
    const res = await runCli(['policy', 'check', file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`${file}:${line}:`);
    expect(res.stdout).toMatch(/unknown region "in-mumbay"; write one of: .*in-mumbai/);
    const json = await runCli(['policy', 'check', file, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).problems[0]).toMatchObject({ file, line });
  });

  it('says what to do about a missing file, with exit code 1', async () => {
    const res = await runCli(['policy', 'check', join(dir.path, 'nope.yaml')]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/nope\.yaml:1:1 .*no such file/);
  });
});

describe('command-line input errors', () => {
  it('refuses bad flags and unknown commands with exit code 2 and a message, changing nothing', async () => {
    const port = await runCli(['up', '--port', 'eighty']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/"eighty" is not a port/);
    const unknown = await runCli(['teleport']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command/);
    const regionUrl = await runCli(['up', '--region-url', 'sg-singapore']);
    expect(regionUrl.code).toBe(2);
    expect(regionUrl.stderr).toMatch(/REGION=URL/);
    const bench = await runCli(['bench', 'nothing']);
    expect(bench.code).toBe(2);
    expect(bench.stderr).toMatch(/no benchmark "nothing"/);
  });

  it('refuses to start on an invalid policy, naming the problem, with exit code 1', async () => {
    const dir = tempDir('cli-bad-up');
    try {
      const file = join(dir.path, 'bad.yaml');
      writeFileSync(file, 'version: 1\nname: broken\n');
      const res = await runCli(['up', '--policy', file, '--data', join(dir.path, 'data'), '--port', '0']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/bad\.yaml:\d+:\d+/);
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      dir.remove();
    }
  });
});

describe('domicile report residency', () => {
  const dir = tempDir('cli-report');
  afterAll(() => dir.remove());

  it('exits 0 when placement matches the policy and 1 with every violation when it does not', async () => {
    // Data written under "before": every market's data in Beijing.
    const before = await Platform.open({
      policy: await loadPolicyFile(join(examplesDir, 'before.yaml')),
      dataDir: dir.path,
      durability: 'normal',
    });
    for (const market of ['CN', 'IN', 'SG']) {
      const { userId } = await registerAccount(before, {
        email: `report-${market}@example.com`,
        password: 'report-password',
        market,
      });
      await routeToHome(before, userId, 'shop', (c, ref) =>
        c.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { market } }),
      );
    }
    await before.close();

    const clean = await runCli([
      'report',
      'residency',
      '--data',
      dir.path,
      '--policy',
      join(examplesDir, 'before.yaml'),
    ]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/No violations/);

    // Under phase1, Indian and Singaporean shop data may no longer rest in Beijing.
    const res = await runCli([
      'report',
      'residency',
      '--data',
      dir.path,
      '--policy',
      join(examplesDir, 'phase1.yaml'),
      '--json',
    ]);
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout);
    const shopViolations = report.violations.filter(
      (v: { service: string; kind: string }) => v.service === 'shop' && v.kind === 'data-outside-policy',
    );
    expect(shopViolations.map((v: { market: string }) => v.market).sort()).toEqual(['IN', 'SG']);
    expect(report.violations.every((v: { market: string }) => v.market !== 'CN')).toBe(true);
  });
});
