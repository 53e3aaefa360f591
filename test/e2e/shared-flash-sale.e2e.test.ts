import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inSchema, onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import type { SpawnedServer } from '../../bench/spawn-server.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { fetchSender, type Send } from '../migrate/support/http-sender.js';
import { registerUsers } from '../migrate/support/random-writer.js';
import { until, upOnDirectory } from '../support/gateway-processes.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

const catalog = {
  products: [
    { sku: 'redmi-1s', name: 'Redmi 1S', description: 'the phone', price: { amount: 599900, currency: 'INR' } },
  ],
  sales: [{ id: 'shared-sale', sku: 'redmi-1s', units: 20 }],
};
const claimPath = '/v1/shop/sales/shared-sale/claims';

/**
 * One flash sale sold by two real `domicile up` processes sharing a PostgreSQL directory (the
 * sale's ledger rests there) and PostgreSQL regions: buyers claim through both at once, the
 * stock is sold once, one unit per buyer; a gateway killed right after a claim commits (before
 * it answers or writes the order) leaves that order to the other gateway, which writes it in the
 * buyer's home region.
 */
describe('a flash sale across two `domicile up` sharing a PostgreSQL directory', () => {
  const data = tempDir('e2e-shared-flash-sale');
  const servers: SpawnedServer[] = [];
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await drop?.();
    data.remove();
  });

  async function up(dataDir: string, files: { policy: string; catalog: string }, directoryUrl: string, env = {}) {
    const server = await upOnDirectory({
      data: dataDir,
      policy: files.policy,
      directoryUrl,
      args: ['--catalog', files.catalog],
      env,
    });
    servers.push(server);
    return server;
  }

  it('sells the stock once across both, and the survivor writes the order of a claim whose gateway died', async () => {
    const made = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'shared']);
    drop = made.drop;
    const { shared, ...regions } = made.schemas;
    const directoryUrl = inSchema(testPostgresUrl, shared!);
    const files = { policy: join(data.path, 'phase1.yaml'), catalog: join(data.path, 'catalog.yaml') };
    writeFileSync(
      files.policy,
      stringify(onPostgres(await loadPolicyFile(join(examplesDir, 'phase1.yaml')), testPostgresUrl, regions)),
    );
    writeFileSync(files.catalog, stringify(catalog));
    const dirA = join(data.path, 'a');
    const dirB = join(data.path, 'b');
    let a = await up(dirA, files, directoryUrl);
    mkdirSync(dirB, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirB, 'secrets'), { recursive: true });
    cpSync(join(dirA, 'regions'), join(dirB, 'regions'), { recursive: true });
    const b = await up(dirB, files, directoryUrl);
    expect(b.lines.join('\n')).toMatch(/flash sales shared-sale/);
    const sendA = fetchSender(() => a.url);
    const sendB = fetchSender(() => b.url);
    const users = await registerUsers(sendB, ['IN', 'SG', 'HK', 'US'], 7, 'sale');

    // 12 buyers at once, each through both gateways: one unit each, the second try refused.
    const first = users.slice(0, 12);
    const tries = await Promise.all(
      first.flatMap((u, i) => {
        const [x, y]: [Send, Send] = i % 2 === 0 ? [sendA, sendB] : [sendB, sendA];
        return [x('POST', claimPath, u.token), y('POST', claimPath, u.token)];
      }),
    );
    expect(tries.filter((r) => r.status === 201)).toHaveLength(12);
    expect(tries.filter((r) => r.status === 409 && JSON.stringify(r.json).includes('already-bought'))).toHaveLength(12);
    const units = tries.filter((r) => r.status === 201).map((r) => (r.json as { unit: number }).unit);
    expect(new Set(units).size).toBe(12);

    // A again, killed right after its next claim commits: the buyer gets no answer.
    await a.stop();
    servers.splice(servers.indexOf(a), 1);
    a = await up(dirA, files, directoryUrl, { DOMICILE_FAULT: 'flash-sale-claimed' });
    const orphan = users[12]!;
    await expect(sendA('POST', claimPath, orphan.token)).rejects.toThrow();
    await until('gateway A is dead', async () => a.child.exitCode !== null || a.child.signalCode !== null);

    // The rest through B: 7 units are left, and the orphan's claim holds its unit.
    const rest = await Promise.all(users.slice(13).map((u) => sendB('POST', claimPath, u.token)));
    expect(rest.filter((r) => r.status === 201)).toHaveLength(7);
    expect(rest.filter((r) => r.status === 409 && JSON.stringify(r.json).includes('sold-out'))).toHaveLength(8);
    const retry = await sendB('POST', claimPath, orphan.token);
    expect([retry.status, JSON.stringify(retry.json)]).toEqual([409, expect.stringContaining('already-bought')]);

    // Every unit's order rests in its buyer's home region, the orphan's written by B.
    const winners = [...first, orphan, ...users.slice(13).filter((_, i) => rest[i]!.status === 201)];
    expect(winners).toHaveLength(20);
    await until('every order written', async () => {
      for (const u of winners)
        if ((await sendB('GET', '/v1/me/shop/orders/sale-shared-sale', u.token)).status !== 200) return false;
      return true;
    });
    const order = await sendB('GET', '/v1/me/shop/orders/sale-shared-sale', orphan.token);
    expect(order.json).toMatchObject({ value: { saleId: 'shared-sale', status: 'confirmed' } });
    const secrets = readFileSync(join(dirB, 'secrets', 'operator.token'), 'utf8').trim();
    const counts = await fetch(`${b.url}/v1/ops/shop/sales/shared-sale`, {
      headers: { authorization: `Bearer ${secrets}` },
    });
    expect(await counts.json()).toMatchObject({ units: 20, sold: 20, remaining: 0, ordered: 20, pendingOrders: 0 });
  }, 180_000);
});
