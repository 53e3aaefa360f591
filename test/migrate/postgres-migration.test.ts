import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { inSchema, onPostgres } from '../../bench/postgres-regions.js';
import { type FaultPoint, faultPoints } from '../../src/migrate/migration-types.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import type { Policy } from '../../src/policy/policy-schema.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';
import { injectSender } from './support/http-sender.js';
import {
  abandon,
  crashAt,
  expectCutOverAndCompleted,
  resumeToCompletion,
  runUntilCrash,
} from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

/**
 * The scenario's migrations with PostgreSQL on either side: Beijing and Singapore rest in
 * PostgreSQL (each region its own schema, as it would be its own database), California in
 * SQLite. Phase 1 moves the shop from Beijing (PostgreSQL) to Singapore (PostgreSQL) and
 * California (SQLite), with a crash inside and a resume; going back to `before` moves it from
 * both into Beijing again (SQLite → PostgreSQL). A random writer runs throughout, and every
 * acknowledged write is served as acknowledged at the end. The coordinator's state rests in
 * PostgreSQL as well.
 */
describe('migration between SQLite and PostgreSQL regions', () => {
  const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.end();
  });

  it.each(faultPoints)(
    'moves the shop out of PostgreSQL and back into it, through a crash %s, losing nothing',
    async (point: FaultPoint) => {
      const data = tempDir(`migrate-postgres-${point}`);
      const regions = {
        'cn-beijing': `mig_bj_${process.pid}_${Date.now().toString(36)}`,
        'sg-singapore': `mig_sg_${process.pid}_${Date.now().toString(36)}`,
      };
      const coordinatorSchema = `mig_co_${process.pid}_${Date.now().toString(36)}`;
      // The coordinator's state rests in PostgreSQL too: the crash leaves it there, and the next process takes the lead.
      const engine = { coordinatorUrl: inSchema(testPostgresUrl, coordinatorSchema) };
      for (const schema of [...Object.values(regions), coordinatorSchema]) {
        await admin.query(`CREATE SCHEMA ${schema}`);
        schemas.push(schema);
      }
      const before = onPostgres(await loadPolicyFile(join(examplesDir, 'before.yaml')), testPostgresUrl, regions);
      const phase1 = onPostgres(await loadPolicyFile(join(examplesDir, 'phase1.yaml')), testPostgresUrl, regions);
      let current: PhasePlatform | undefined = await openPhase(data.path, before, engine);
      const send = injectSender(() => current!.app);
      const users = await registerUsers(send, ['CN', 'HK', 'IN', 'MY', 'US'], 2, 'pg');
      const model = new WriteModel();
      await new RandomWriter(send, users, model).seed(4);
      expect((await current.platform.region('cn-beijing').health()).backend).toBe('postgres');
      await current.close();

      // Phase 1, with a crash at the named step: the process "dies" there and is opened again.
      const { fault, crashed: crash } = crashAt(point);
      current = await openPhase(data.path, phase1, { ...engine, fault });
      const crashing = current.engine;
      await new RandomWriter(send, users, model, { concurrency: 2 }).during(() =>
        runUntilCrash(crashing, point, crash, { batchSize: 2, rate: 300, services: ['shop'] }),
      );
      const dead = current;
      current = undefined;
      await abandon(dead);

      current = await openPhase(data.path, phase1, engine);
      expect(current.engine.leads).toBe(true);
      expect((await current.engine.status())?.state).toBe('interrupted');
      await new RandomWriter(send, users, model, { concurrency: 2 }).during(() =>
        resumeToCompletion(current!.engine, point),
      );
      expect(await modelProblems(send, users, model)).toEqual([]);
      expect((await residencyReport(current.platform)).violations).toEqual([]);
      for (const u of users.filter((x) => x.market !== 'CN')) {
        expect((await current.platform.directory.home(u.userId, 'shop'))?.region).toMatch(/sg-singapore|us-california/);
      }
      await current.close();

      // Back under `before`, with Singapore (PostgreSQL) and California (SQLite) draining into
      // Beijing (PostgreSQL): they run until the move is done.
      const back: Policy = {
        ...before,
        version: phase1.version + 1,
        regions: before.regions.map((r) =>
          ['sg-singapore', 'us-california'].includes(r.id)
            ? { ...phase1.regions.find((p) => p.id === r.id)!, status: 'draining' as const }
            : r,
        ),
      };
      current = await openPhase(data.path, back, engine);
      await new RandomWriter(send, users, model, { concurrency: 2 }).during(async () => {
        await current!.engine.start({ batchSize: 3, services: ['shop'] });
        await expectCutOverAndCompleted(current!.engine);
      });
      expect(await modelProblems(send, users, model)).toEqual([]);
      expect((await residencyReport(current.platform)).violations).toEqual([]);
      for (const u of users)
        expect((await current.platform.directory.home(u.userId, 'shop'))?.region).toBe('cn-beijing');
      await current.close();
      current = undefined;
      data.remove();
    },
    120_000,
  );
});
