import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inSchema, onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import type { SpawnedServer } from '../../bench/spawn-server.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { until, upOnDirectory } from '../support/gateway-processes.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

/**
 * Two real `domicile up` on one PostgreSQL directory and PostgreSQL regions: an erasure sent to
 * gateway A, which is killed (SIGKILL, by fault injection) once the first region has erased,
 * is finished by gateway B once A's lease on it runs out, with nobody asking B for it.
 */
describe('an erasure whose gateway is killed mid-way', () => {
  const data = tempDir('e2e-shared-dsar-kill');
  const servers: SpawnedServer[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await drop?.();
    data.remove();
  });

  async function up(dataDir: string, policyFile: string, directoryUrl: string, env: NodeJS.ProcessEnv) {
    const server = await upOnDirectory({
      data: dataDir,
      policy: policyFile,
      directoryUrl,
      env: { DOMICILE_DSAR_LEASE_MS: '1000', ...env },
    });
    servers.push(server);
    return server;
  }

  it('is finished by the other gateway', async () => {
    const made = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'shared']);
    drop = made.drop;
    const { shared, ...regions } = made.schemas;
    const directoryUrl = inSchema(testPostgresUrl, shared!);
    const policyFile = join(data.path, 'phase1.yaml');
    writeFileSync(
      policyFile,
      stringify(onPostgres(await loadPolicyFile(join(examplesDir, 'phase1.yaml')), testPostgresUrl, regions)),
    );
    const dirA = join(data.path, 'a');
    const dirB = join(data.path, 'b');
    const a = await up(dirA, policyFile, directoryUrl, { DOMICILE_FAULT: 'dsar-region-erased' });
    mkdirSync(dirB, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirB, 'secrets'), { recursive: true });
    cpSync(join(dirA, 'regions'), join(dirB, 'regions'), { recursive: true });
    const b = await up(dirB, policyFile, directoryUrl, {});

    const account = { email: 'killed-mid-erasure@example.com', password: 'erase-me-please', market: 'SG' };
    const registered = await fetch(`${a.url}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(account),
    });
    expect(registered.status).toBe(201);
    const { userId, token } = (await registered.json()) as { userId: string; token: string };
    const put = await fetch(`${a.url}/v1/me/shop/orders/o1`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'redmi-1s' }),
    });
    expect(put.status).toBe(200);

    // A dies inside the erasure: no answer, and its process is gone.
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      a.child.once('exit', (_code, signal) => resolve(signal)),
    );
    await expect(
      fetch(`${a.url}/v1/me`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }),
    ).rejects.toThrow();
    expect(await exited).toBe('SIGKILL');

    const db = new pg.Client({ connectionString: directoryUrl });
    await db.connect();
    try {
      const left = (
        await db.query<{ id: string; state: string; regions_done: string[] }>(
          'SELECT id, state, regions_done FROM dsar_requests WHERE user_id = $1',
          [userId],
        )
      ).rows;
      expect(left).toHaveLength(1);
      const id = left[0]!.id;
      const operator = readFileSync(join(dirB, 'secrets', 'operator.token'), 'utf8').trim();
      const ops = { authorization: `Bearer ${operator}` };
      // B finishes it by itself, once A's lease has run out.
      const done = await until('finished through B', async () => {
        const r = (await (await fetch(`${b.url}/v1/ops/dsar/${id}`, { headers: ops })).json()) as {
          state: string;
          regionsDone: string[];
          error: string | null;
        };
        return r.state === 'completed' ? r : undefined;
      });
      expect(done.error).toBeNull();
      expect([...done.regionsDone].sort()).toEqual(['cn-beijing', 'sg-singapore', 'us-california']);
      expect((await fetch(`${b.url}/v1/ops/users/${userId}`, { headers: ops })).status).toBe(404);
      const login = await fetch(`${b.url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: account.email, password: account.password }),
      });
      expect(login.status).toBe(401);
      // Nothing left of the user in any region's records.
      for (const schema of Object.values(regions)) {
        const rows = await db.query(`SELECT count(*)::int AS n FROM ${schema}.records WHERE user_id = $1`, [userId]);
        expect(rows.rows[0]).toEqual({ n: 0 });
      }
    } finally {
      await db.end();
    }
  }, 120_000);
});
