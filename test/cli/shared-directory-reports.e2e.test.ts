import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inSchema, onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import type { ResidencyReport } from '../../src/platform/residency-report.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { runCli } from '../support/cli.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { auth, examplesDir, liftedAuthThrottle, register } from '../support/test-platform.js';

/**
 * `domicile report residency` and `domicile audit verify` with no gateway running, on a
 * deployment whose directory and regions are in PostgreSQL: `--directory-url` opens the shared
 * directory (and the regions the policy names), not the data folder's SQLite directory, which
 * knows nobody.
 */
describe('operator reports on a shared PostgreSQL directory, no gateway running', () => {
  const root = tempDir('shared-directory-reports');
  const dataDir = join(root.path, 'data');
  const policyFile = join(root.path, 'phase1.yaml');
  let drop: (() => Promise<void>) | undefined;
  let directoryUrl: string;
  const markets = ['SG', 'US', 'CN', 'HK'];

  beforeAll(async () => {
    const made = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'directory']);
    drop = made.drop;
    const { directory, ...regions } = made.schemas;
    directoryUrl = inSchema(testPostgresUrl, directory!);
    const policy = onPostgres(await loadPolicyFile(join(examplesDir, 'phase1.yaml')), testPostgresUrl, regions);
    writeFileSync(policyFile, stringify(policy));
    const platform = await Platform.open({ policy, dataDir, durability: 'normal', directoryUrl });
    const app = await buildGateway(platform, { throttle: liftedAuthThrottle });
    try {
      for (const market of markets) {
        const u = await register(app, { email: `reports-${market}@example.com`, password: 'reports-password', market });
        const res = await app.inject({
          method: 'PUT',
          url: '/v1/me/shop/orders/o1',
          headers: auth(u.token),
          payload: { sku: 'redmi-1s' },
        });
        expect(res.statusCode, res.body).toBe(200);
      }
    } finally {
      await app.close();
      await platform.close();
    }
  }, 60_000);
  afterAll(async () => {
    await drop?.();
    root.remove();
  });

  it('report residency reads the homes from the shared directory', async () => {
    const res = await runCli([
      'report',
      'residency',
      '--data',
      dataDir,
      '--policy',
      policyFile,
      '--directory-url',
      directoryUrl,
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as ResidencyReport;
    expect(report.violations).toEqual([]);
    const shop = report.rows.filter((r) => r.service === 'shop' && r.records > 0);
    expect(shop.map((r) => r.market).sort()).toEqual([...markets].sort());
    for (const row of shop) expect(row).toMatchObject({ users: 1, homed: 1, allowed: true });
    // The data folder's own directory was never made: only the shared one was opened.
    expect(existsSync(join(dataDir, 'directory'))).toBe(false);
  }, 60_000);

  it('audit verify checks every region the policy names', async () => {
    const res = await runCli([
      'audit',
      'verify',
      '--data',
      dataDir,
      '--policy',
      policyFile,
      '--directory-url',
      directoryUrl,
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { regions: Array<{ region: string; entries: number; verified: boolean }> };
    expect(out.regions.map((r) => r.region).sort()).toEqual(['cn-beijing', 'sg-singapore', 'us-california']);
    for (const r of out.regions) expect(r).toMatchObject({ verified: true });
    expect(out.regions.reduce((n, r) => n + r.entries, 0)).toBeGreaterThan(0);
    expect(existsSync(join(dataDir, 'directory'))).toBe(false);
  }, 60_000);

  it('refuses a --directory-url that is not a PostgreSQL URL, saying what to write', async () => {
    const res = await runCli(['report', 'residency', '--data', dataDir, '--directory-url', 'mysql://db/x']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/not a PostgreSQL URL: write for example postgres:\/\//);
  });
});
