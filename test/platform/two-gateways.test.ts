import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { MigrationEngine } from '../../src/migrate/migration-engine.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { Platform } from '../../src/platform/platform.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { injectSender } from '../migrate/support/http-sender.js';
import { expectCutOverAndCompleted } from '../migrate/support/migration-runs.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from '../migrate/support/random-writer.js';
import { testPostgresUrl } from '../support/postgres.js';
import { examplesDir } from '../support/test-platform.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * Two gateways at once, as behind a load balancer: their regions rest in PostgreSQL (each
 * region's database shared by both gateways' nodes), and they share a PostgreSQL directory.
 * Users registered through one log in and write through the other; while one gateway's
 * coordinator migrates the shop of phase 1, writes through both are routed to wherever each user
 * lives at that moment, and every acknowledged write reads back as acknowledged through either.
 */
describe('two gateways sharing PostgreSQL regions and directory', () => {
  const root = tempDir('two-gateways');
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await drop?.();
    root.remove();
  });

  it('route every user consistently, during a migration too', async () => {
    const pgRegions = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'directory']);
    drop = pgRegions.drop;
    const { directory: directorySchema, ...regionSchemas } = pgRegions.schemas;
    const directoryUrl = (() => {
      const u = new URL(testPostgresUrl);
      u.searchParams.set('options', `-c search_path=${directorySchema}`);
      return u.toString();
    })();
    const before = onPostgres(await loadPolicyFile(join(examplesDir, 'before.yaml')), testPostgresUrl, regionSchemas);
    const phase1 = onPostgres(await loadPolicyFile(join(examplesDir, 'phase1.yaml')), testPostgresUrl, regionSchemas);
    const dirA = join(root.path, 'a');
    const dirB = join(root.path, 'b');

    // Users write under `before` through gateway A alone.
    let a = await Platform.open({ policy: before, dataDir: dirA, durability: 'normal', directoryUrl });
    let appA = await buildGateway(a);
    const sendA = injectSender(() => appA);
    const users = await registerUsers(sendA, ['CN', 'HK', 'IN', 'US'], 2, 'two');
    const model = new WriteModel();
    await new RandomWriter(sendA, users, model).seed(3);
    await appA.close();
    await a.close();

    // Gateway B: another machine with the same secrets and the regions' keys, as a deployment
    // ships them to every node of a region (each region's keys are that region's, wherever its nodes run).
    a = await Platform.open({ policy: phase1, dataDir: dirA, durability: 'normal', directoryUrl });
    mkdirSync(dirB, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirB, 'secrets'), { recursive: true });
    cpSync(join(dirA, 'regions'), join(dirB, 'regions'), { recursive: true });
    const b = await Platform.open({ policy: phase1, dataDir: dirB, durability: 'normal', directoryUrl });
    const engine = await MigrationEngine.open({ host: a, reverseIntervalMs: 20 });
    appA = await buildGateway(a, { migrations: engine });
    const appB = await buildGateway(b);
    const sendB = injectSender(() => appB);
    try {
      // Logged in through B, a user of A's registration writes through B and reads through A.
      const login = await sendB('POST', '/v1/sessions', undefined, { email: users[0]!.email, password: users[0]!.password });
      expect(login.status).toBe(200);
      const token = (login.json as { token: string }).token;
      expect((await sendB('PUT', '/v1/me/shop/orders/through-b', token, { via: 'b' })).status).toBe(200);
      expect((await sendA('GET', '/v1/me/shop/orders/through-b', users[0]!.token)).json).toMatchObject({ value: { via: 'b' } });
      expect((await sendA('DELETE', '/v1/me/shop/orders/through-b', users[0]!.token)).status).toBe(204);

      // Half the users write through each gateway (one writer per user keeps the model exact).
      const writerA = new RandomWriter(sendA, users.filter((_, i) => i % 2 === 0), model, { concurrency: 2 });
      const writerB = new RandomWriter(sendB, users.filter((_, i) => i % 2 === 1), model, { concurrency: 2 });
      writerA.start();
      writerB.start();
      try {
        await engine.start({ batchSize: 2, rate: 200, services: ['shop'] });
        await expectCutOverAndCompleted(engine);
      } finally {
        await writerA.stop();
        await writerB.stop();
      }
      expect(model.acknowledged).toBeGreaterThan(20);
      expect(await modelProblems(sendA, users, model)).toEqual([]);
      expect(await modelProblems(sendB, users, model)).toEqual([]);
      expect((await residencyReport(a)).violations).toEqual([]);
      expect((await residencyReport(b)).violations).toEqual([]);
    } finally {
      await engine.close();
      await appA.close();
      await appB.close();
      await a.close();
      await b.close();
    }
  }, 120_000);
});
