import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residencyReport } from '../../src/platform/residency-report.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, type TestUser, WriteModel } from './support/random-writer.js';

const markets = ['CN', 'HK', 'IN', 'ID', 'MY', 'SG', 'TW', 'US', 'BR'];

/**
 * The 2014 scenario end to end, in process: users of every market write under `before`;
 * then the same data folder is reopened under phase1, phase2 and phase3 in turn, and each
 * phase's migration runs to completion while a random writer keeps writing to every user.
 * After each phase: every acknowledged write is served exactly as acknowledged, the residency
 * report is clean, logins still work, and each batch's transfer is recorded.
 */
describe('the phased migration of the 2014 scenario', () => {
  const data = tempDir('migrate-phases');
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  const model = new WriteModel();
  let users: TestUser[] = [];

  beforeAll(async () => {
    current = await openPhase(data.path, 'before');
    users = await registerUsers(send, markets, 3, 'phases');
    await new RandomWriter(send, users, model).seed(6);
    await current.close();
    current = undefined;
  });
  afterAll(async () => {
    await current?.close();
    data.remove();
  });

  async function migrate(phase: string, expectMoves: Record<string, string>): Promise<void> {
    current = await openPhase(data.path, phase);
    try {
      await migrateOpen(phase, expectMoves);
    } finally {
      await current.close();
      current = undefined;
    }
  }

  async function migrateOpen(phase: string, expectMoves: Record<string, string>): Promise<void> {
    if (!current) throw new Error('no platform');
    const { engine, platform } = current;
    const writer = new RandomWriter(send, users, model, { concurrency: 3 });
    writer.start();
    try {
      // A rate cap stretches the copy out, so that many writes land while batches move.
      const before = model.acknowledged;
      const started = await engine.start({ batchSize: 4, rate: 150 });
      expect(started.state).toBe('running');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await engine.updateSettings({ batchSize: 3 })).settings).toEqual({ batchSize: 3, rate: 150 });
      const cut = await engine.waitFor();
      expect(cut?.error ?? null).toBeNull();
      expect(cut?.state).toBe('cut-over');
      expect(model.acknowledged - before).toBeGreaterThan(50);
      // Writes keep landing at the destinations, and flow back to the sources, until complete.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await engine.status())?.error ?? null).toBeNull();
      await engine.complete();
      const done = await engine.waitFor(['completed', 'failed']);
      expect(done?.error ?? null).toBeNull();
      expect(done?.state).toBe('completed');
      expect(done?.pauses?.count).toBe(done?.batches.total);
      if (process.env.DOMICILE_TEST_VERBOSE)
        console.log(
          phase,
          JSON.stringify({ batches: done?.batches, pauses: done?.pauses, moved: done?.moved, writes: model.counts }),
        );
    } finally {
      await writer.stop();
    }
    expect(model.acknowledged).toBeGreaterThan(0);
    expect(await modelProblems(send, users, model)).toEqual([]);

    const report = await residencyReport(platform);
    expect(report.violations).toEqual([]);
    for (const [key, region] of Object.entries(expectMoves)) {
      const [market, service] = key.split('/');
      const user = users.find((u) => u.market === market)!;
      expect((await platform.directory.home(user.userId, service!))?.region, key).toBe(region);
    }
    const transfers = await engine.transfers((await engine.status())!.id);
    expect(transfers.length).toBeGreaterThan(0);
    expect(transfers.every((t) => t.policy.name === phase && t.digest.length === 64)).toBe(true);

    // The account's credentials moved with it: every user still logs in.
    for (const user of users.slice(0, 4)) {
      const login = await send('POST', '/v1/sessions', undefined, { email: user.email, password: user.password });
      expect(login.status, user.market).toBe(200);
    }
  }

  it('phase 1 moves the international shop to Singapore and California', async () => {
    await migrate('phase1', {
      'IN/shop': 'sg-singapore',
      'US/shop': 'us-california',
      'CN/shop': 'cn-beijing',
      'IN/account': 'cn-beijing',
    });
  });

  it('phase 2 moves account, messaging and cloud to Singapore and Oregon', async () => {
    await migrate('phase2', {
      'IN/account': 'sg-singapore',
      'US/messaging': 'us-oregon',
      'BR/shop': 'sg-singapore',
      'CN/account': 'cn-beijing',
    });
  });

  it('phase 3 moves India to Mumbai, and the planned São Paulo receives nothing', async () => {
    await migrate('phase3', {
      'IN/shop': 'in-mumbai',
      'IN/account': 'in-mumbai',
      'BR/shop': 'us-california',
      'BR/cloud': 'us-oregon',
    });
    expect(existsSync(join(data.path, 'regions', 'br-saopaulo'))).toBe(false);
  });
});
