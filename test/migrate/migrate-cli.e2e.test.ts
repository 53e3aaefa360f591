import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';
import { injectSender } from './support/http-sender.js';
import { openPhase } from './support/phase-platform.js';
import { RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

const policy = (phase: string) => join(examplesDir, `${phase}.yaml`);

/**
 * `domicile plan` and `domicile migrate` when nothing runs: the data folder is opened in the
 * command's own process, and a migration runs there until it rests. (Steering a running
 * `domicile up` is in kill-resume.e2e.test.ts.)
 */
describe('domicile plan and domicile migrate on a data folder nothing runs', () => {
  const data = tempDir('migrate-cli');
  beforeAll(async () => {
    const p = await openPhase(data.path, 'before');
    const send = injectSender(() => p.app);
    await new RandomWriter(send, await registerUsers(send, ['CN', 'IN', 'HK', 'US'], 2, 'cli'), new WriteModel()).seed(
      3,
    );
    await p.close();
  });
  afterAll(() => data.remove());

  it('plans the difference of two policies, as a table or as one JSON object', async () => {
    const text = await runCli(['plan', '--from', policy('before'), '--to', policy('phase1'), '--data', data.path]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Plan from policy "before" \(version 1\) to "phase1" \(version 2\)/);
    expect(text.stdout).toMatch(/shop\s+IN\s+cn-beijing\s+sg-singapore\s+2\s/);
    expect(text.stdout).toMatch(/shop\s+US\s+cn-beijing\s+us-california\s+2\s/);
    const json = await runCli([
      'plan',
      '--from',
      policy('before'),
      '--to',
      policy('phase1'),
      '--data',
      data.path,
      '--json',
    ]);
    const plan = JSON.parse(json.stdout);
    expect(plan.totals.users).toBe(6);
    expect(plan.groups.every((g: { service: string }) => g.service === 'shop')).toBe(true);
  });

  it('names what is wrong: a policy file, a flag, a missing migration', async () => {
    const bad = join(data.path, 'bad.yaml');
    writeFileSync(bad, 'version: 2\nname: bad\nregions: []\n');
    const invalid = await runCli(['plan', '--from', policy('before'), '--to', bad, '--data', data.path]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/bad\.yaml:\d+:\d+/);
    expect((await runCli(['plan', '--from', policy('before'), '--data', data.path])).stderr).toMatch(
      /--from needs --to/,
    );
    const none = await runCli(['migrate', 'status', '--data', data.path, '--policy', policy('phase1')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no migration has been started/);
    expect((await runCli(['migrate', 'start', '--batch-size', '0', '--data', data.path])).stderr).toMatch(
      /"0" is not a whole number of at least 1/,
    );
    expect((await runCli(['migrate', 'start', '--services', 'shop,,cloud', '--data', data.path])).stderr).toMatch(
      /not a comma-separated list of service ids \(an empty name\)/,
    );
    const unknown = await runCli([
      'migrate',
      'start',
      '--services',
      'shop,photos',
      '--data',
      data.path,
      '--policy',
      policy('phase1'),
    ]);
    expect(unknown.stderr).toMatch(/"photos", which policy "phase1" does not declare; use some of/);
    expect((await runCli(['migrate', 'settings', '--data', data.path, '--policy', policy('phase1')])).code).toBe(2);
  });

  it('runs a migration in its own process until it rests, then completes it', async () => {
    const phase1 = ['--data', data.path, '--policy', policy('phase1'), '--json'];
    const started = await runCli(['migrate', 'start', '--batch-size', '3', ...phase1]);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ state: 'cut-over', users: { total: 6, cutOver: 6 } });
    const status = await runCli(['migrate', 'status', ...phase1]);
    expect(JSON.parse(status.stdout).state).toBe('cut-over');
    const text = await runCli(['migrate', 'status', '--data', data.path, '--policy', policy('phase1')]);
    expect(text.stdout).toMatch(/users {6}6\/6 cut over/);
    expect(text.stdout).toMatch(/Next: .*domicile migrate complete/);
    // Cut over, not completed: the sources' 'moved' rows are the roll-back window, not residue.
    const during = await runCli(['report', 'residency', ...phase1]);
    expect(during.code, during.stdout + during.stderr).toBe(0);
    const duringReport = JSON.parse(during.stdout) as {
      violations: unknown[];
      inMove: Array<{ migrationId: string; region: string; destination: string; service: string; users: number }>;
    };
    expect(duringReport.violations).toEqual([]);
    const migrationId = JSON.parse(status.stdout).id as string;
    expect(
      duringReport.inMove.every(
        (m) => m.migrationId === migrationId && m.region === 'cn-beijing' && m.service === 'shop',
      ),
    ).toBe(true);
    expect(duringReport.inMove.reduce((n, m) => n + m.users, 0)).toBe(6);
    const duringText = await runCli(['report', 'residency', '--data', data.path, '--policy', policy('phase1')]);
    expect(duringText.code, duringText.stdout).toBe(0);
    expect(duringText.stdout).toMatch(
      new RegExp(
        `In move \\(not violations\\): .*\\n.*users of shop in cn-beijing are moving to .* by migration ${migrationId}`,
      ),
    );
    const completed = await runCli(['migrate', 'complete', ...phase1]);
    expect(JSON.parse(completed.stdout)).toMatchObject({ state: 'completed', transfers: 3, batches: { total: 3 } });
    const report = await runCli(['report', 'residency', '--data', data.path, '--policy', policy('phase1'), '--json']);
    expect(report.code, report.stdout).toBe(0);
    expect(JSON.parse(report.stdout).inMove).toEqual([]);
  });
});
