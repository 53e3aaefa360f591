import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inSchema, onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import type { SpawnedServer } from '../../bench/spawn-server.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { fetchSender } from '../migrate/support/http-sender.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from '../migrate/support/random-writer.js';
import { runCli } from '../support/cli.js';
import { until, upOnDirectory } from '../support/gateway-processes.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

async function migrate(
  args: string[],
  data: string,
): Promise<{ code: number | null; json: Record<string, unknown>; stderr: string }> {
  const res = await runCli(['migrate', ...args, '--data', data, '--json']);
  return {
    code: res.code,
    json: res.stdout ? (JSON.parse(res.stdout) as Record<string, unknown>) : {},
    stderr: res.stderr,
  };
}

/**
 * Two real `domicile up` processes, as two gateways behind a load balancer, on PostgreSQL regions
 * and one `--directory-url`: the first leads the migration coordinator and the second says it
 * does not. A migration started through the second is run by the first. When the first stops,
 * the second takes the lead and completes the migration, and every acknowledged write is served
 * as acknowledged through it.
 */
describe('two `domicile up` sharing a PostgreSQL directory and coordinator', () => {
  const data = tempDir('e2e-shared-coordinator');
  const servers: SpawnedServer[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await drop?.();
    data.remove();
  });

  async function up(dataDir: string, policyFile: string, directoryUrl: string): Promise<SpawnedServer> {
    const server = await upOnDirectory({ data: dataDir, policy: policyFile, directoryUrl });
    servers.push(server);
    return server;
  }

  it('lead one at a time, steer from either, and hand the lead over when the leader stops', async () => {
    const made = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'shared']);
    drop = made.drop;
    const { shared, ...regions } = made.schemas;
    const directoryUrl = inSchema(testPostgresUrl, shared!);
    for (const phase of ['before', 'phase1']) {
      writeFileSync(
        join(data.path, `${phase}.yaml`),
        stringify(onPostgres(await loadPolicyFile(join(examplesDir, `${phase}.yaml`)), testPostgresUrl, regions)),
      );
    }
    const dirA = join(data.path, 'a');
    const dirB = join(data.path, 'b');

    let a = await up(dirA, join(data.path, 'before.yaml'), directoryUrl);
    let url: string | undefined = a.url;
    const send = fetchSender(() => url);
    const users = await registerUsers(send, ['CN', 'HK', 'IN', 'US'], 2, 'shared');
    const model = new WriteModel();
    await new RandomWriter(send, users, model).seed(3);
    await a.stop();
    servers.splice(servers.indexOf(a), 1);

    // B: another machine, with the secrets and the regions' keys every gateway of the deployment has.
    a = await up(dirA, join(data.path, 'phase1.yaml'), directoryUrl);
    mkdirSync(dirB, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirB, 'secrets'), { recursive: true });
    cpSync(join(dirA, 'regions'), join(dirB, 'regions'), { recursive: true });
    const b = await up(dirB, join(data.path, 'phase1.yaml'), directoryUrl);
    expect(a.lines.join('\n')).toMatch(
      /migrations coordinated in the shared directory's database: this gateway leads them/,
    );
    expect(b.lines.join('\n')).toMatch(/another gateway leads them; this one steers, and leads if that one stops/);

    // Started through B, run by A: both show the same migration.
    url = b.url;
    const started = await migrate(['start', '--batch-size', '2', '--services', 'shop'], dirB);
    expect(started.code, started.stderr).toBe(0);
    await until('cut over', async () => (await migrate(['status'], dirA)).json.state === 'cut-over');
    const throughB = await migrate(['status'], dirB);
    expect(throughB.json).toMatchObject({ id: started.json.id, state: 'cut-over' });

    // A stops; B takes the lead and completes it.
    await a.stop();
    servers.splice(servers.indexOf(a), 1);
    const completed = await migrate(['complete'], dirB);
    expect(completed.code, completed.stderr).toBe(0);
    await until('completed', async () => (await migrate(['status'], dirB)).json.state === 'completed');
    const done = (await migrate(['status'], dirB)).json as {
      error: string | null;
      users: { total: number; completed: number };
    };
    expect(done.error ?? null).toBeNull();
    expect(done.users.completed).toBe(done.users.total);
    expect(done.users.total).toBeGreaterThan(0);
    expect(await modelProblems(send, users, model)).toEqual([]);
  }, 180_000);
});
