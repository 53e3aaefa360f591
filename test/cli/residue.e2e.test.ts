import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Platform } from '../../src/platform/platform.js';
import { routeToHome } from '../../src/platform/route-to-home.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { regionPaths } from '../../src/region/open-region-node.js';
import { registerAccount } from '../../src/services/account/account-service.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

/**
 * Issue 14 item 3: rows that name a user in a region that does not serve them (what a move
 * completed before the purge took change logs and tenancies left behind) are a violation of
 * `domicile report residency` (exit 1), and `domicile where` shows them.
 */
describe('residue in where and report residency', () => {
  const dir = tempDir('cli-residue');
  afterAll(() => dir.remove());
  const policyFile = join(examplesDir, 'before.yaml');

  it('shows change-log rows and tenancies left behind, and the report exits 1 on them', async () => {
    const platform = await Platform.open({
      policy: await loadPolicyFile(policyFile),
      dataDir: dir.path,
      durability: 'normal',
    });
    const sg = await registerAccount(platform, {
      email: 'residue-sg@example.com',
      password: 'residue-password',
      market: 'SG',
    });
    const cn = await registerAccount(platform, {
      email: 'residue-cn@example.com',
      password: 'residue-password',
      market: 'CN',
    });
    for (const user of [sg, cn]) {
      for (const [service, collection] of [
        ['shop', 'orders'],
        ['messaging', 'messages'],
      ] as const) {
        for (let v = 0; v < 3; v++)
          await routeToHome(platform, user.userId, service, (c, ref) =>
            c.putRecord({ ...ref, collection, key: 'k1', value: { v } }),
          );
      }
    }
    await platform.close();

    const clean = await runCli(['report', 'residency', '--data', dir.path, '--policy', policyFile]);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    const cleanWhere = await runCli(['where', sg.userId, '--data', dir.path, '--policy', policyFile, '--json']);
    expect(cleanWhere.code, cleanWhere.stderr).toBe(0);
    expect(JSON.parse(cleanWhere.stdout).residue).toEqual([]);

    // Plant what a purge used to leave: the SG user's shop with a 'moved' tenancy and its change
    // log, its records and keys gone; the CN user's messaging change log with no tenancy at all.
    const db = new Database(regionPaths(dir.path, 'cn-beijing').store);
    db.prepare("DELETE FROM records WHERE user_id = ? AND service = 'shop'").run(sg.userId);
    db.prepare("DELETE FROM keys WHERE user_id = ? AND scope LIKE 'shop/%'").run(sg.userId);
    db.prepare(
      "UPDATE tenancies SET status = 'moved', moved_to = 'sg-singapore', epoch = epoch + 1 WHERE user_id = ? AND service = 'shop'",
    ).run(sg.userId);
    db.prepare("DELETE FROM records WHERE user_id = ? AND service = 'messaging'").run(cn.userId);
    db.prepare("DELETE FROM keys WHERE user_id = ? AND scope LIKE 'messaging/%'").run(cn.userId);
    db.prepare("DELETE FROM tenancies WHERE user_id = ? AND service = 'messaging'").run(cn.userId);
    db.close();

    const report = await runCli(['report', 'residency', '--data', dir.path, '--policy', policyFile, '--json']);
    expect(report.code, report.stderr).toBe(1);
    const violations = (
      JSON.parse(report.stdout) as {
        violations: Array<{ kind: string; market: string; region: string; service: string; users: number }>;
      }
    ).violations;
    expect(
      violations.map(({ kind, market, region, service, users }) => ({ kind, market, region, service, users })),
    ).toEqual([
      { kind: 'residue', market: '', region: 'cn-beijing', service: 'messaging', users: 1 },
      { kind: 'residue', market: 'SG', region: 'cn-beijing', service: 'shop', users: 1 },
    ]);
    const text = await runCli(['report', 'residency', '--data', dir.path, '--policy', policyFile]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/1 SG users are still named by shop rows in cn-beijing/);

    const where = await runCli(['where', sg.userId, '--data', dir.path, '--policy', policyFile, '--json']);
    expect(where.code, where.stderr).toBe(0);
    const found = JSON.parse(where.stdout) as {
      residue: Array<{ region: string; service: string; reason: string }>;
      holdings: Array<{
        region: string;
        services: Array<{ service: string; status: string; changes: number; residue: boolean }>;
      }>;
    };
    expect(found.residue.map((r) => [r.region, r.service])).toEqual([['cn-beijing', 'shop']]);
    expect(found.residue[0]!.reason).toMatch(/moved tenancy and 0 records, 0 keys, 3 change-log entries/);
    const shop = found.holdings.find((h) => h.region === 'cn-beijing')!.services.find((s) => s.service === 'shop');
    expect(shop).toMatchObject({ status: 'moved', changes: 3, residue: true });

    const whereCn = await runCli(['where', cn.userId, '--data', dir.path, '--policy', policyFile]);
    expect(whereCn.code, whereCn.stderr).toBe(0);
    expect(whereCn.stdout).toMatch(/Residue/);
    expect(whereCn.stdout).toMatch(/cn-beijing messaging: no tenancy and 0 records, 0 keys, 3 change-log entries/);
  }, 60_000);
});
