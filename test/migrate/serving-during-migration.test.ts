import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { RandomWriter, registerUsers, type TestUser, WriteModel } from './support/random-writer.js';

/**
 * The coordinator runs in the process that serves users; with in-process regions every step
 * it awaits completes without touching the event loop, so it must yield between users, or an
 * uncapped migration would stall every request until it ends. Users who do not move, and
 * users of batches not being cut over, are served while it runs.
 */
describe('serving while a migration runs uncapped', () => {
  const data = tempDir('migrate-serving');
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  let users: TestUser[] = [];

  beforeAll(async () => {
    current = await openPhase(data.path, 'before');
    users = await registerUsers(send, ['CN', 'SG', 'IN', 'MY', 'HK'], 5, 'serving');
    await new RandomWriter(send, users, new WriteModel()).seed(20);
    await current.close();
    current = await openPhase(data.path, 'phase2');
  });
  afterAll(async () => {
    await current?.close();
    data.remove();
  });

  it('answers requests of users who stay while batches move', async () => {
    const { engine } = current!;
    const stays = users.find((u) => u.market === 'CN')!;
    await engine.start({ batchSize: 2 });
    // The coordinator yields between users, so this one-at-a-time prober is answered many
    // times per batch; a coordinator that held the event loop for a whole step would let it
    // in about once per batch (19 answers for 40 batches, seen with the yield removed). Counted,
    // not timed: how fast answers come is `domicile bench migrate`'s question.
    let runningAnswers = 0;
    for (;;) {
      const res = await send('PUT', '/v1/me/shop/cart/probe', stays.token, { at: runningAnswers });
      expect(res.status).toBe(200);
      if ((await engine.status())?.state !== 'running') break;
      runningAnswers++;
    }
    const finished = await engine.waitFor();
    expect(finished?.state).toBe('cut-over');
    expect(finished!.batches.total).toBeGreaterThan(10);
    expect(runningAnswers).toBeGreaterThan(2 * finished!.batches.total);
  });
});
