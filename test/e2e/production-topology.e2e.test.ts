import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inSchema, onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { type SpawnedServer, spawnServer } from '../../bench/spawn-server.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { fetchSender, type Send } from '../migrate/support/http-sender.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from '../migrate/support/random-writer.js';
import { domicileBin, runCli } from '../support/cli.js';
import { until, upOnDirectory } from '../support/gateway-processes.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { makeTestCa } from '../support/test-certificates.js';
import { examplesDir } from '../support/test-platform.js';

function exited(server: SpawnedServer): Promise<NodeJS.Signals | null> {
  if (server.child.exitCode !== null || server.child.signalCode !== null)
    return Promise.resolve(server.child.signalCode);
  return new Promise((resolve) => server.child.once('exit', (_code, signal) => resolve(signal)));
}

const region = 'sg-singapore';
const nodeToken = 'production-topology-node-token';
const sale = { id: 'topology-sale', units: 10 };
const claimPath = `/v1/shop/sales/${sale.id}/claims`;
const catalog = {
  products: [
    { sku: 'redmi-1s', name: 'Redmi 1S', description: 'the phone', price: { amount: 599900, currency: 'INR' } },
  ],
  sales: [{ id: sale.id, sku: 'redmi-1s', units: sale.units }],
};

/**
 * The production topology of docs/operations.md, every piece its own process: a PostgreSQL
 * directory (homes, sessions, the coordinator's state, the sale's ledger, data subject
 * requests) shared by two gateways; PostgreSQL regions; Singapore served by a pool of two
 * `domicile region` processes on one database, each reached by one gateway over mutual TLS.
 * Phase 1 of the scenario moves users while a writer writes through both gateways (a balancer
 * that sends each request to the next gateway alive); the leading gateway is killed (SIGKILL)
 * mid-move and the other takes the lead and completes it; a flash sale sells out across both;
 * an erasure whose gateway is killed mid-way is finished by the other; and every acknowledged
 * write reads back as acknowledged.
 */
describe('the production topology: two gateways, a node pool over mutual TLS, PostgreSQL everywhere', () => {
  const data = tempDir('e2e-production-topology');
  const servers: SpawnedServer[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
    await drop?.();
    data.remove();
  });

  const env = { DOMICILE_LOG: 'off', DOMICILE_NODE_TOKEN: nodeToken, DOMICILE_DSAR_LEASE_MS: '1000' };

  async function started(server: Promise<SpawnedServer>, banner: RegExp): Promise<SpawnedServer> {
    const s = await server;
    servers.push(s);
    await until('the start-up banner', async () => s.lines.some((l) => banner.test(l)));
    return s;
  }

  it('moves, sells and erases across machines that die, losing nothing acknowledged', async () => {
    const made = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'shared']);
    drop = made.drop;
    const { shared, ...regions } = made.schemas;
    const directoryUrl = inSchema(testPostgresUrl, shared!);
    const file = (name: string) => join(data.path, name);
    for (const phase of ['before', 'phase1']) {
      const policy = onPostgres(await loadPolicyFile(join(examplesDir, `${phase}.yaml`)), testPostgresUrl, regions);
      writeFileSync(file(`${phase}.yaml`), stringify(policy));
    }
    writeFileSync(file('catalog.yaml'), stringify(catalog));
    const ca = makeTestCa(data.path, 'topology');
    const nodeCert = ca.issue('sg-node', 'server');
    const gatewayCert = ca.issue('gateway', 'client');

    const gateway = async (dir: string, phase: string, nodeUrl: string | undefined, extraEnv = {}) => {
      const tls = [
        '--region-tls-ca',
        ca.cert,
        '--region-tls-cert',
        gatewayCert.cert,
        '--region-tls-key',
        gatewayCert.key,
      ];
      const server = await upOnDirectory({
        data: dir,
        policy: file(`${phase}.yaml`),
        directoryUrl,
        args: ['--catalog', file('catalog.yaml'), ...(nodeUrl ? ['--region-url', `${region}=${nodeUrl}`, ...tls] : [])],
        env: { ...env, ...extraEnv },
      });
      servers.push(server);
      return server;
    };
    const node = (dir: string) =>
      started(
        spawnServer(
          [
            domicileBin,
            'region',
            '--id',
            region,
            '--data',
            dir,
            '--port',
            '0',
            '--policy',
            file('phase1.yaml'),
            '--tls-cert',
            nodeCert.cert,
            '--tls-key',
            nodeCert.key,
            '--tls-client-ca',
            ca.cert,
          ],
          /is up at/,
          env,
        ),
        /^Press Ctrl-C/,
      );

    // Before: one gateway, Beijing only. Users and their records.
    const dirA = file('a');
    const dirB = file('b');
    let a = await gateway(dirA, 'before', undefined);
    let urlA: string | undefined = a.url;
    let urlB: string | undefined;
    const sendA = fetchSender(() => urlA);
    const sendB = fetchSender(() => urlB);
    let turn = 0;
    /**
     * The load balancer: each request to the next gateway in turn, skipping one known to be down;
     * a request sent to one that dies gets no answer, and the writer tries it again.
     */
    const balancer: Send = (...args) => (turn++ % 2 === 0 && urlA !== undefined ? sendA : sendB)(...args);
    const users = await registerUsers(sendA, ['CN', 'HK', 'IN', 'MY', 'SG', 'US'], 3, 'topology');
    const model = new WriteModel();
    await new RandomWriter(sendA, users, model).seed(3);
    await a.stop();
    servers.splice(servers.indexOf(a), 1);

    // Phase 1: Singapore's pool of two nodes on one database, sharing the region's keys (made by
    // the first, shipped to the second); each gateway reaches one node over mutual TLS.
    const node1 = await node(file('node1'));
    mkdirSync(file('node2'), { recursive: true });
    cpSync(join(file('node1'), 'regions'), join(file('node2'), 'regions'), { recursive: true });
    const node2 = await node(file('node2'));
    expect(node1.url).toMatch(/^https:/);

    a = await gateway(dirA, 'phase1', node1.url);
    urlA = a.url;
    mkdirSync(dirB, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirB, 'secrets'), { recursive: true });
    cpSync(join(dirA, 'regions'), join(dirB, 'regions'), { recursive: true });
    const b = await gateway(dirB, 'phase1', node2.url);
    urlB = b.url;
    expect(a.lines.join('\n')).toMatch(/this gateway leads them/);
    expect(b.lines.join('\n')).toMatch(/another gateway leads them/);

    const writer = new RandomWriter(balancer, users, model, { concurrency: 2, pauseMs: 5 });
    writer.start();
    try {
      // The move, started through B and run by A, the leader; A is killed in the middle of it.
      const migrate = async (args: string[], dir: string) => {
        const res = await runCli(['migrate', ...args, '--data', dir, '--json']);
        return { code: res.code, stderr: res.stderr, json: res.stdout ? JSON.parse(res.stdout) : {} };
      };
      const start = await migrate(['start', '--batch-size', '2', '--rate', '100'], dirB);
      expect(start.code, start.stderr).toBe(0);
      await until('a few users copied', async () => (await migrate(['status'], dirB)).json.users?.copied >= 4);
      const killedA = exited(a);
      a.child.kill('SIGKILL');
      expect(await killedA).toBe('SIGKILL');
      urlA = undefined;
      servers.splice(servers.indexOf(a), 1);

      // B takes the lead, finds the move interrupted, and resumes and completes it.
      await until(
        'B leads, and finds the move interrupted',
        async () => (await migrate(['status'], dirB)).json.state === 'interrupted',
      );
      const resumed = await migrate(['resume', '--wait'], dirB);
      expect(resumed.json.error ?? null, resumed.stderr).toBeNull();
      expect(resumed.json.state).toBe('cut-over');
      const completed = await migrate(['complete'], dirB);
      expect(completed.code, completed.stderr).toBe(0);
      await until('completed', async () => (await migrate(['status'], dirB)).json.state === 'completed', 60_000);
      const done = (await migrate(['status'], dirB)).json;
      expect(done.error ?? null).toBeNull();
      expect(done.users.completed).toBe(done.users.total);
    } finally {
      await writer.stop();
    }
    expect(model.anomalies).toEqual([]);
    expect(model.counts.update + model.counts.delete).toBeGreaterThan(10);
    expect(await modelProblems(balancer, users, model)).toEqual([]);

    // A comes back (set to die inside the next erasure it works) and both sell the sale.
    a = await gateway(dirA, 'phase1', node1.url, { DOMICILE_FAULT: 'dsar-region-erased' });
    urlA = a.url;
    const buyers = users.slice(0, sale.units + 4);
    const claims = await Promise.all(buyers.map((u, i) => (i % 2 === 0 ? sendA : sendB)('POST', claimPath, u.token)));
    const won = buyers.filter((_, i) => claims[i]!.status === 201);
    expect(won).toHaveLength(sale.units);
    expect(claims.filter((r) => r.status === 409 && JSON.stringify(r.json).includes('sold-out'))).toHaveLength(4);
    expect(new Set(claims.filter((r) => r.status === 201).map((r) => (r.json as { unit: number }).unit)).size).toBe(
      sale.units,
    );
    await until(
      'every order written in its buyer’s home',
      async () => {
        for (const u of won)
          if ((await sendB('GET', `/v1/me/shop/orders/sale-${sale.id}`, u.token)).status !== 200) return false;
        return true;
      },
      60_000,
    );
    // The buyers' collections now hold their orders too, which the model does not know of.
    const others = users.filter((u) => !won.includes(u));
    expect(await modelProblems(balancer, others, model)).toEqual([]);

    // An erasure sent to A, which is killed once the first region has erased: B finishes it.
    const leaving = { email: 'topology-leaving@example.com', password: 'leaving-password', market: 'SG' };
    const account = await sendB('POST', '/v1/accounts', undefined, leaving);
    expect(account.status).toBe(201);
    const { userId, token } = account.json as { userId: string; token: string };
    expect((await sendB('PUT', '/v1/me/shop/orders/o1', token, { phone: 'Mi 4' })).status).toBe(200);
    const killedAgain = exited(a);
    await expect(
      fetch(`${a.url}/v1/me`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }),
    ).rejects.toThrow();
    expect(await killedAgain).toBe('SIGKILL');
    servers.splice(servers.indexOf(a), 1);
    const db = new pg.Client({ connectionString: directoryUrl });
    await db.connect();
    try {
      const [request] = (await db.query<{ id: string }>('SELECT id FROM dsar_requests WHERE user_id = $1', [userId]))
        .rows;
      expect(request).toBeDefined();
      const ops = { authorization: `Bearer ${readFileSync(join(dirB, 'secrets', 'operator.token'), 'utf8').trim()}` };
      const erased = await until(
        'the erasure finished through B',
        async () => {
          const r = (await (await fetch(`${b.url}/v1/ops/dsar/${request!.id}`, { headers: ops })).json()) as {
            state: string;
            error: string | null;
          };
          return r.state === 'completed' ? r : undefined;
        },
        60_000,
      );
      expect(erased.error).toBeNull();
      for (const schema of Object.values(regions)) {
        const rows = await db.query(`SELECT count(*)::int AS n FROM ${schema}.records WHERE user_id = $1`, [userId]);
        expect(rows.rows[0]).toEqual({ n: 0 });
      }
    } finally {
      await db.end();
    }
    const login = { email: leaving.email, password: leaving.password };
    expect((await sendB('POST', '/v1/sessions', undefined, login)).status).toBe(401);

    // What the auditor sees: every user where the policy says, through the survivor.
    const report = await runCli(['report', 'residency', '--data', dirB, '--json']);
    expect(report.code, report.stdout.slice(0, 500) + report.stderr).toBe(0);
  }, 300_000);
});
