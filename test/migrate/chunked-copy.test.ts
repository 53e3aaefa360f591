import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residencyReport } from '../../src/platform/residency-report.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, type TestUser, WriteModel } from './support/random-writer.js';

/**
 * A batch of more users than one copy call carries is copied in chunks, the source exporting
 * the next chunk while the destination imports the one before (copy-batch.ts). Forty users in
 * one batch make three chunks; every write acknowledged while they move is served as
 * acknowledged afterwards, and nothing rests outside its allowed regions.
 */
describe('a copy in chunks that overlap', () => {
  const data = tempDir('migrate-chunked');
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  const model = new WriteModel();
  let users: TestUser[] = [];

  beforeAll(async () => {
    current = await openPhase(data.path, 'before');
    users = await registerUsers(send, ['SG', 'IN', 'MY', 'HK'], 10, 'chunked');
    await new RandomWriter(send, users, model).seed(3);
    await current.close();
    current = await openPhase(data.path, 'phase1');
  });
  afterAll(async () => {
    await current?.close();
    data.remove();
  });

  it('moves a batch of 40 users, three chunks, losing no acknowledged write', async () => {
    const { engine } = current!;
    await new RandomWriter(send, users, model, { concurrency: 4 }).during(async () => {
      await engine.start({ batchSize: 40 });
      await expectCutOverAndCompleted(engine);
    });
    // The batches that moved held more users than a copy call: at least one was copied in chunks.
    const status = (await engine.status())!;
    expect(status.users.completed).toBeGreaterThan(16);
    expect(status.batches.total).toBeLessThan(status.users.completed);
    expect(await modelProblems(send, users, model)).toEqual([]);
    expect((await residencyReport(current!.platform)).violations).toEqual([]);
  });
});
