import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { type SpawnedServer, spawnServer, syntheticClientFlags } from '../../bench/spawn-server.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { domicileBin, runCli } from '../support/cli.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

async function call(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/**
 * A real `domicile up` on a policy whose Beijing and Singapore rest in PostgreSQL and whose
 * Mumbai rests in SQLite: users of each are served from their own region, `domicile where` and
 * the residency report see every backend, and the audit logs of all of them verify.
 */
describe('domicile up with mixed PostgreSQL and SQLite regions', () => {
  const data = tempDir('e2e-mixed');
  let server: SpawnedServer;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const pg = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore']);
    drop = pg.drop;
    const policy = onPostgres(await loadPolicyFile(join(examplesDir, 'phase3.yaml')), testPostgresUrl, pg.schemas);
    writeFileSync(join(data.path, 'mixed.yaml'), stringify(policy));
    server = await spawnServer(
      [
        domicileBin,
        'up',
        '--data',
        join(data.path, 'd'),
        '--port',
        '0',
        '--policy',
        join(data.path, 'mixed.yaml'),
        ...syntheticClientFlags,
      ],
      /gateway/,
      { DOMICILE_LOG: 'off' },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await drop?.();
    data.remove();
  });

  it('serves each user from their region, whatever its backend, and reports and verifies them all', async () => {
    const homes: Record<string, string> = { CN: 'cn-beijing', SG: 'sg-singapore', IN: 'in-mumbai' };
    const health = await call(server.url, 'GET', '/healthz');
    expect(health.json.regions).toEqual(
      expect.arrayContaining([
        { region: 'cn-beijing', ok: true, backend: 'postgres' },
        { region: 'sg-singapore', ok: true, backend: 'postgres' },
        { region: 'in-mumbai', ok: true, backend: 'sqlite' },
      ]),
    );
    for (const [market, region] of Object.entries(homes)) {
      const user = await call(server.url, 'POST', '/v1/accounts', undefined, {
        email: `mixed-${market}@example.com`,
        password: 'mixed-password',
        market,
      });
      expect(user.status).toBe(201);
      const token = user.json.token as string;
      expect((await call(server.url, 'PUT', '/v1/me/shop/orders/o1', token, { market })).status).toBe(200);
      expect((await call(server.url, 'GET', '/v1/me/shop/orders/o1', token)).json.value).toEqual({ market });
      const where = await runCli(['where', user.json.userId as string, '--data', join(data.path, 'd'), '--json']);
      expect(JSON.parse(where.stdout).holdings.map((h: { region: string }) => h.region)).toEqual([region]);
    }
    const report = await runCli(['report', 'residency', '--data', join(data.path, 'd'), '--json']);
    expect(report.code, report.stderr).toBe(0);
    const rows = JSON.parse(report.stdout).rows as Array<{ market: string; region: string; records: number }>;
    for (const [market, region] of Object.entries(homes))
      expect(rows).toContainEqual(expect.objectContaining({ market, region, records: expect.any(Number) }));
    const audit = await runCli(['audit', 'verify', '--data', join(data.path, 'd'), '--json']);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout).regions.map((r: { region: string }) => r.region)).toEqual(
      expect.arrayContaining(['cn-beijing', 'sg-singapore', 'in-mumbai']),
    );
  });
});
