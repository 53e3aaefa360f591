import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSchema, postgresSchemas } from '../../bench/postgres-regions.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { MigrationEngine } from '../../src/migrate/migration-engine.js';
import type { FaultPoint } from '../../src/migrate/migration-types.js';
import { Platform } from '../../src/platform/platform.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { liftedAuthThrottle } from '../support/test-platform.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, scenarioPolicy } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

/** The coordinator's lead lock class (postgres-coordinator-store.ts). */
const leaderLockClass = 0x646f6d43;

async function until(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Issue 17, fencing tokens: two coordinators share their state in PostgreSQL. The leader is
 * paused inside a cut-over (the batch's users fenced in the source, its changes drained), and
 * loses its lead (its session is ended, as when its network drops); the other takes the lead
 * and settles the batch (the source serves the users again), and a user of the batch writes
 * there. Then the old leader goes on with its step: every primitive it sends is refused
 * (STALE_LEADER), so it neither flips the users to a destination that lacks that write nor
 * records anything; the new leader resumes and finishes the migration, each user moved once.
 */
describe('a deposed coordinator', () => {
  const seed = tempDir('fenced-leader');
  const model = new WriteModel();
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const before = await openPhase(seed.path, 'before');
    const send = injectSender(() => before.app);
    const users = await registerUsers(send, ['HK', 'IN', 'MY', 'US'], 2, 'fence');
    await new RandomWriter(send, users, model).seed(3);
    await before.close();
    seededUsers.push(...users);
  });
  const seededUsers: Awaited<ReturnType<typeof registerUsers>> = [];
  afterAll(async () => {
    await drop?.();
    seed.remove();
  });

  it('is refused by every region once another has led, and nothing is applied twice', async () => {
    const schemas = await postgresSchemas(testPostgresUrl, ['coordinator']);
    drop = schemas.drop;
    const schema = schemas.schemas.coordinator!;
    const coordinatorUrl = inSchema(testPostgresUrl, schema);
    const platform = await Platform.open({
      policy: await scenarioPolicy('phase1'),
      dataDir: seed.path,
      durability: 'normal',
    });
    let paused!: () => void;
    const pausedAt = new Promise<void>((resolve) => (paused = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let fired = false;
    const fault = (point: FaultPoint): Promise<void> | undefined => {
      if (point !== 'inside-cut-over' || fired) return undefined;
      fired = true;
      paused();
      return released;
    };
    const logA: string[] = [];
    const a = await MigrationEngine.open({
      host: platform,
      coordinatorUrl,
      // A does not look at its lead again by itself (it could win the lock back from B): it
      // learns it was deposed from the refusals alone.
      leadIntervalMs: 600_000,
      reverseIntervalMs: 20,
      fault,
      log: (line) => logA.push(line),
    });
    const logB: string[] = [];
    const b = await MigrationEngine.open({
      host: platform,
      coordinatorUrl,
      leadIntervalMs: 50,
      reverseIntervalMs: 20,
      log: (line) => logB.push(line),
    });
    const app = await buildGateway(platform, { migrations: b, throttle: liftedAuthThrottle });
    const send = injectSender(() => app);
    const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
    try {
      expect(a.leads).toBe(true);
      expect(b.leads).toBe(false);
      const { id } = await a.start({ batchSize: 3 });
      await pausedAt;
      const movers = await b.store.movers(id, 1);
      expect((await b.store.batch(id, 1))?.step).toBe('cutting-over');

      // A's lead session ends (its lock with it); B takes the lead and settles the batch.
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = hashtext($2)::oid",
        [leaderLockClass, schema],
      );
      await until(
        () => `B to lead and settle batch 1 (B's log: ${logB.join(' / ')})`,
        async () => b.leads && (await b.store.batch(id, 1))?.step === 'catching-up',
      );
      expect((await b.status(id))?.state).toBe('interrupted');

      // The source serves the batch's users again: a write there, after A drained the batch.
      const batchUsers = seededUsers.filter((u) => movers.some((m) => m.userId === u.userId));
      expect(batchUsers.length).toBe(3);
      for (const user of batchUsers) {
        const value = { note: 'written after the new leader settled the batch' };
        const res = await send('PUT', '/v1/me/shop/orders/after-settle', user.token, value);
        expect(res.status, JSON.stringify(res.json)).toBe(200);
        const version = (res.json as { version: number }).version;
        model.records.set(`${user.userId}\u0000shop\u0000orders\u0000after-settle`, {
          userId: user.userId,
          service: 'shop',
          collection: 'orders',
          key: 'after-settle',
          value,
          version,
        });
      }

      // A goes on with its step: refused, it stops, and changes nothing.
      const logged = logA.length;
      release();
      await until('A to end its step', () =>
        logA.slice(logged).some((l) => l.includes('no longer leads') || l.includes('cut over') || l.includes('failed')),
      );
      // Refused by the state (its checkpoint) or by a region (its primitive), whichever it reached first.
      expect(logA.slice(logged).join('\n')).toMatch(/was taken by another since|refuses migration/);
      // Both regions of the batch know B's token: A's older one is refused there too.
      for (const region of ['cn-beijing', 'sg-singapore']) {
        await expect(
          platform.regions.get(region)!.importUsers({ service: 'shop', users: [], fence: { migration: id, token: 1 } }),
        ).rejects.toMatchObject({ code: 'STALE_LEADER' });
      }
      expect(logA.slice(logged).some((l) => l.includes('cut over'))).toBe(false);
      expect(a.leads).toBe(false);
      expect((await b.store.batch(id, 1))?.step).toBe('catching-up');
      expect((await b.status(id))?.state).toBe('interrupted');
      for (const m of movers) expect(await platform.directory.home(m.userId, 'shop')).toMatchObject({ epoch: m.epoch });

      // B finishes the migration: every user moved once, every acknowledged write there.
      await b.resume();
      await expectCutOverAndCompleted(b);
      for (const m of movers)
        expect(await platform.directory.home(m.userId, 'shop')).toMatchObject({ epoch: m.epoch + 1 });
      const transfers = await b.transfers(id);
      expect(new Set(transfers.map((t) => t.batchId)).size).toBe(transfers.length);
      expect(await modelProblems(send, seededUsers, model)).toEqual([]);
      expect((await residencyReport(platform)).violations).toEqual([]);
    } finally {
      release();
      await admin.end();
      await app.close();
      await a.close();
      await b.close();
      await platform.close();
    }
  });
});
