import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { MigrationEngine } from '../../src/migrate/migration-engine.js';
import { Platform } from '../../src/platform/platform.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { injectSender } from '../migrate/support/http-sender.js';
import { expectCutOverAndCompleted } from '../migrate/support/migration-runs.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from '../migrate/support/random-writer.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir, liftedAuthThrottle } from '../support/test-platform.js';

/**
 * Two gateways at once, as behind a load balancer: their regions rest in PostgreSQL (each
 * region's database shared by both gateways' nodes), and they share a PostgreSQL directory.
 * Users registered through one log in and write through the other; while the gateways'
 * shared coordinator migrates the shop of phase 1, writes through both are routed to wherever
 * each user lives at that moment, and every acknowledged write reads back as acknowledged through
 * either. The coordinator's state rests beside the directory: A leads and runs the migration,
 * B starts, pauses and resumes it, and when A's coordinator stops, B takes the lead and finishes it.
 */
describe('two gateways sharing PostgreSQL regions and directory', () => {
  const root = tempDir('two-gateways');
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await drop?.();
    root.remove();
  });

  it('route every user consistently, during a migration too', async () => {
    const pgRegions = await postgresSchemas(testPostgresUrl, [
      'cn-beijing',
      'sg-singapore',
      'us-california',
      'directory',
    ]);
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
    let appA = await buildGateway(a, { throttle: liftedAuthThrottle });
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
    const engineA = await MigrationEngine.open({ host: a, reverseIntervalMs: 20, leadIntervalMs: 50 });
    const engineB = await MigrationEngine.open({ host: b, reverseIntervalMs: 20, leadIntervalMs: 50 });
    expect([engineA.leads, engineB.leads]).toEqual([true, false]);
    appA = await buildGateway(a, { migrations: engineA, throttle: liftedAuthThrottle });
    const appB = await buildGateway(b, { migrations: engineB, throttle: liftedAuthThrottle });
    const sendB = injectSender(() => appB);
    try {
      // Logged in through B, a user of A's registration writes through B and reads through A.
      const login = await sendB('POST', '/v1/sessions', undefined, {
        email: users[0]!.email,
        password: users[0]!.password,
      });
      expect(login.status).toBe(200);
      const token = (login.json as { token: string }).token;
      expect((await sendB('PUT', '/v1/me/shop/orders/through-b', token, { via: 'b' })).status).toBe(200);
      expect((await sendA('GET', '/v1/me/shop/orders/through-b', users[0]!.token)).json).toMatchObject({
        value: { via: 'b' },
      });
      expect((await sendA('DELETE', '/v1/me/shop/orders/through-b', users[0]!.token)).status).toBe(204);

      // Half the users write through each gateway (one writer per user keeps the model exact).
      const writerA = new RandomWriter(
        sendA,
        users.filter((_, i) => i % 2 === 0),
        model,
        { concurrency: 2 },
      );
      const writerB = new RandomWriter(
        sendB,
        users.filter((_, i) => i % 2 === 1),
        model,
        { concurrency: 2 },
      );
      writerA.start();
      writerB.start();
      try {
        // Started through B; A leads, so A moves the users.
        const started = await engineB.start({ batchSize: 1, rate: 10, services: ['shop'] });
        await until(async () => ((await engineA.status())?.users.cutOver ?? 0) > 0);
        expect(engineA.leads && !engineB.leads).toBe(true);
        // Paused through B: A stops after its current step, and nothing more moves.
        await engineB.pause();
        expect((await engineA.status())?.state).toBe('paused');
        // A cut-over under way when the pause came finishes; after it, nothing moves.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const paused = (await engineA.status())!.users.cutOver;
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect((await engineB.status())!.users.cutOver).toBe(paused);
        expect(paused).toBeLessThan(started.users.total);
        await engineB.resume();
        await until(async () => ((await engineA.status())?.users.cutOver ?? 0) > paused);

        // A's coordinator stops while the migration runs: B takes the lead, finds it interrupted, resumes and finishes it.
        await engineA.close();
        await until(() => Promise.resolve(engineB.leads));
        const interrupted = await engineB.status();
        expect(interrupted?.state).toBe('interrupted');
        await engineB.resume();
        await expectCutOverAndCompleted(engineB);
        expect((await engineB.status())?.users).toMatchObject({
          cutOver: started.users.total,
          total: started.users.total,
        });
        expect((await engineB.transfers(started.id)).length).toBeGreaterThan(0);
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
      await engineA.close();
      await engineB.close();
      await appA.close();
      await appB.close();
      await a.close();
      await b.close();
    }
  }, 120_000);
});

/** Polls `ok` every 20 ms until it holds, failing after 20 s. */
async function until(ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`still not so after 20 s: ${ok.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
