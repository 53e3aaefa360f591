import { afterAll, describe, expect, it } from 'vitest';
import type { FaultPoint } from '../../src/migrate/migration-types.js';
import { residencyReport } from '../../src/platform/residency-report.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, WriteModel } from './support/random-writer.js';

/**
 * A user erased while their batch is being moved: the erasure holds (nothing of theirs rests
 * anywhere afterwards, the copy in flight brings nothing back), and the migration carries on
 * with everyone else to completion, nothing lost.
 */
describe('an erasure during a migration', () => {
  const data = tempDir('erase-migrating');
  let current: PhasePlatform | undefined;
  afterAll(async () => {
    await current?.close();
    data.remove();
  });

  it('erases the user for good, and completes the migration for the others', async () => {
    current = await openPhase(data.path, 'before');
    const send = injectSender(() => current!.app);
    const users = await registerUsers(send, ['HK', 'IN', 'MY', 'SG'], 2, 'erase-mig');
    const model = new WriteModel();
    await new RandomWriter(send, users, model).seed(4);
    await current.close();

    const victim = users.find((u) => u.market === 'IN')!;
    let erased = false;
    const fault = async (point: FaultPoint) => {
      if (point !== 'after-copy-batch' || erased || !current) return;
      const batch = (await current.engine.store.batches((await current.engine.status())!.id))[0]!;
      if (!(await current.engine.store.movers(batch.migrationId, batch.id)).some((m) => m.userId === victim.userId))
        return;
      erased = true;
      // The copy has crossed; now the user asks to be erased.
      const request = await current.platform.dsar.erase(victim.userId, 'user');
      expect(request.state).toBe('completed');
    };
    current = await openPhase(data.path, 'phase1', { fault });
    const others = users.filter((u) => u !== victim);
    await new RandomWriter(send, others, model, { concurrency: 2 }).during(async () => {
      // Batches of 8: the victim's batch holds everyone, so the others move through it too.
      await current!.engine.start({ batchSize: 8, services: ['shop'] });
      await expectCutOverAndCompleted(current!.engine);
    });
    expect(erased).toBe(true);
    for (const client of current.platform.regions.values())
      expect(await client.describeUser({ userId: victim.userId }), client.regionId).toEqual([]);
    expect(await current.platform.directory.getUser(victim.userId)).toBeUndefined();
    expect(await modelProblems(send, others, model)).toEqual([]);
    expect((await residencyReport(current.platform)).violations).toEqual([]);
  }, 60_000);
});
