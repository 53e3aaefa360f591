import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMovingUsers } from '../../src/migrate/moving-users.js';
import type { FaultPoint } from '../../src/migrate/migration-types.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel, type TestUser } from './support/random-writer.js';

/**
 * A destination row that differs from its source (a corrupted copy) must stop the batch, be
 * named, and refuse the cut-over: the users stay served by the source. Resuming copies the
 * batch again from scratch, and the migration then finishes with nothing lost.
 */
describe('verification', () => {
  const data = tempDir('migrate-verify');
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  const model = new WriteModel();
  let users: TestUser[] = [];

  beforeAll(async () => {
    current = await openPhase(data.dir, 'before');
    users = await registerUsers(send, ['HK', 'IN', 'SG', 'US'], 3, 'verify');
    await new RandomWriter(send, users, model).seed(5);
    await current.close();
  });
  afterAll(async () => {
    await current?.close();
    data.remove();
  });

  it('refuses the cut-over of a batch whose destination holds a corrupted row, names it, and recovers on resume', async () => {
    let corrupted: { userId: string; collection: string; key: string; version: number } | undefined;
    const fault = async (point: FaultPoint) => {
      if (point !== 'after-copy-batch' || corrupted || !current) return;
      // The first batch's first user: change one of its copied rows in Singapore, same version.
      const { engine, platform } = current;
      const batch = engine.store.batches(engine.status()!.id)[0]!;
      const victim = engine.store.movers(batch.migrationId, batch.id)[0]!;
      const dest = platform.region(batch.destination);
      const [exported] = await dest.exportUsers({ service: 'shop', userIds: [victim.userId] });
      const row = exported!.records[0]!;
      await dest.importRecords({ service: 'shop', userId: victim.userId, market: victim.market, epoch: victim.epoch, states: { records: [{ ...row, value: { tampered: true } }], deleted: [] } });
      corrupted = { userId: victim.userId, collection: row.collection, key: row.key, version: row.version };
    };
    current = await openPhase(data.dir, 'phase1', { fault });
    const { engine, platform } = current;
    // The writer leaves the victim alone, so that no catch-up repairs the row by chance.
    const victimId = (await listMovingUsers(platform.directory, platform.policy, ['shop']))[0]!.userId;
    const writer = new RandomWriter(send, users.filter((u) => u.userId !== victimId), model, { concurrency: 2 });
    writer.start();
    try {
      await engine.start({ batchSize: 2, services: ['shop'] });
      const failed = await engine.waitFor();
      expect(failed?.state).toBe('failed');
      expect(corrupted?.userId).toBe(victimId);
      expect(failed?.error).toContain(`${corrupted!.collection}/${corrupted!.key}`);
      expect(failed?.error).toMatch(/cut-over is refused/);
      expect(failed?.mismatches).toEqual([
        expect.objectContaining({ userId: victimId, collection: corrupted!.collection, key: corrupted!.key, problem: `content differs at version ${corrupted!.version}` }),
      ]);
      // Refused: the directory still homes the batch in Beijing, and Beijing serves them.
      expect((await platform.directory.home(victimId, 'shop'))?.region).toBe('cn-beijing');
      const victim = users.find((u) => u.userId === victimId)!;
      expect((await send('PUT', '/v1/me/shop/cart/after-refusal', victim.token, { ok: 1 })).status).toBe(200);
      expect((await send('DELETE', '/v1/me/shop/cart/after-refusal', victim.token)).status).toBe(204);

      // Resume copies the failed batch again, and this time it verifies.
      expect(engine.resume().state).toBe('running');
      const cut = await engine.waitFor();
      expect(cut?.error ?? null).toBeNull();
      expect(cut?.state).toBe('cut-over');
      expect(cut?.mismatches).toEqual([]);
      engine.complete();
      expect((await engine.waitFor(['completed', 'failed']))?.state).toBe('completed');
    } finally {
      await writer.stop();
    }
    expect(await modelProblems(send, users, model)).toEqual([]);
    expect((await platform.directory.home(victimId, 'shop'))?.region).toBe('sg-singapore');
  });
});
