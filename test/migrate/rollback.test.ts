import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residencyReport } from '../../src/platform/residency-report.js';
import type { Policy } from '../../src/policy/policy-schema.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { openPhase, type PhasePlatform, scenarioPolicy } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, type TestUser, WriteModel } from './support/random-writer.js';

/**
 * Phase 1 with Beijing kept as the last allowed region of the international shop: while a
 * move may still be rolled back, the source stays a place the users' data may rest, so the
 * destination's writes can flow back to it.
 */
async function phase1WithFallback(): Promise<Policy> {
  const policy = await scenarioPolicy('phase1');
  return {
    ...policy,
    name: 'phase1-with-fallback',
    placement: policy.placement.map((rule) =>
      rule.services.includes('shop') && !rule.markets.includes('CN') && !rule.markets.includes('*')
        ? { ...rule, regions: [...rule.regions, 'cn-beijing'] }
        : rule,
    ),
  };
}

async function seeded(
  prefix: string,
): Promise<{ data: ReturnType<typeof tempDir>; users: TestUser[]; model: WriteModel }> {
  const data = tempDir(prefix);
  const before = await openPhase(data.path, 'before');
  const send = injectSender(() => before.app);
  const users = await registerUsers(send, ['CN', 'HK', 'IN', 'SG', 'US'], 3, prefix);
  const model = new WriteModel();
  await new RandomWriter(send, users, model).seed(5);
  await before.close();
  return { data, users, model };
}

describe('rollback', () => {
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  let fixture: Awaited<ReturnType<typeof seeded>>;
  beforeAll(async () => {
    fixture = await seeded('migrate-rollback');
  });
  afterAll(async () => {
    await current?.close();
    fixture.data.remove();
  });

  it('after the cut-over, restores the source with every write made at the destination', async () => {
    const { users, model } = fixture;
    current = await openPhase(fixture.data.path, await phase1WithFallback());
    const { engine, platform } = current;
    const writer = new RandomWriter(send, users, model, { concurrency: 3 });
    writer.start();
    let atCutOver = 0;
    try {
      await engine.start({ batchSize: 4, services: ['shop'] });
      const cut = await engine.waitFor();
      expect(cut?.state).toBe('cut-over');
      const moved = users.filter((u) => u.market !== 'CN');
      for (const u of moved) expect((await platform.directory.home(u.userId, 'shop'))?.region).not.toBe('cn-beijing');
      // The users now write at their destinations; reverse replication carries it to Beijing.
      atCutOver = model.acknowledged;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(model.acknowledged - atCutOver).toBeGreaterThan(20);
      expect((await engine.status())?.warnings).toEqual([]);
      expect((await engine.rollback()).state).toBe('rolling-back');
      const back = await engine.waitFor(['rolled-back', 'failed']);
      expect(back?.error ?? null).toBeNull();
      expect(back?.state).toBe('rolled-back');
      expect(back?.users.rolledBack).toBe(moved.length);
    } finally {
      await writer.stop();
    }
    expect(await modelProblems(send, users, model)).toEqual([]);
    for (const u of users) {
      const home = await platform.directory.home(u.userId, 'shop');
      expect(home?.region).toBe('cn-beijing');
      expect(home?.epoch).toBe(u.market === 'CN' ? 1 : 3);
    }
    // The destinations keep nothing of the moved users.
    for (const region of ['sg-singapore', 'us-california']) {
      const stats = await platform.region(region).placementStats();
      expect(
        stats.filter((s) => s.service === 'shop'),
        region,
      ).toEqual([]);
      // ...not even their change-log entries or a tenancy: Beijing is their home, and the directory says so.
      const client = platform.region(region);
      expect((await client.changesSince({ afterSeq: 0, limit: 10_000, service: 'shop' })).changes, region).toEqual([]);
      for (const u of users.filter((x) => x.market !== 'CN')) {
        expect(
          (await client.describeUser({ userId: u.userId })).filter((h) => h.service === 'shop'),
          region,
        ).toEqual([]);
      }
    }
    expect((await residencyReport(platform)).violations).toEqual([]);
    // Both crossings are in Beijing's audit log: each batch copied out, and each rolled back in.
    const stages = new Map<string, number>();
    for (let after = 0; ; ) {
      const page = await platform.region('cn-beijing').readAudit({ afterSeq: after, limit: 1_000 });
      for (const e of page.entries) {
        const event = (JSON.parse(e.entry) as { event: { type: string; stage?: string } }).event;
        if (event.type === 'transfer') stages.set(event.stage!, (stages.get(event.stage!) ?? 0) + 1);
      }
      if (page.entries.length < 1_000) break;
      after = page.entries.at(-1)!.seq;
    }
    expect(stages.get('copied')).toBeGreaterThan(0);
    expect(stages.get('rolled-back')).toBe(stages.get('copied'));
    await current.close();
    current = undefined;
  });

  it('midway, rolls back the batches cut over and discards the copies of the others', async () => {
    const { users, model } = fixture;
    current = await openPhase(fixture.data.path, await phase1WithFallback());
    const { engine, platform } = current;
    const writer = new RandomWriter(send, users, model, { concurrency: 3 });
    writer.start();
    try {
      // A low rate cap: the rollback comes while batches are still moving.
      await engine.start({ batchSize: 2, rate: 60, services: ['shop'] });
      const deadline = Date.now() + 20_000;
      while (((await engine.status())?.users.cutOver ?? 0) === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      const midway = (await engine.status())!;
      expect(midway.state).toBe('running');
      expect(midway.users.cutOver).toBeGreaterThan(0);
      expect(midway.users.cutOver).toBeLessThan(midway.users.total);
      await engine.rollback();
      const back = await engine.waitFor(['rolled-back', 'failed']);
      expect(back?.error ?? null).toBeNull();
      expect(back?.state).toBe('rolled-back');
    } finally {
      await writer.stop();
    }
    expect(await modelProblems(send, users, model)).toEqual([]);
    for (const u of users) expect((await platform.directory.home(u.userId, 'shop'))?.region).toBe('cn-beijing');
    for (const region of ['sg-singapore', 'us-california']) {
      expect(
        (await platform.region(region).placementStats()).filter((s) => s.service === 'shop'),
        region,
      ).toEqual([]);
    }
    await current.close();
    current = undefined;
  });

  it('under the real phase 1 policy, which no longer allows Beijing, rolls back with every write made at the destination', async () => {
    const fresh = await seeded('migrate-rollback-real');
    try {
      current = await openPhase(fresh.data.path, 'phase1');
      const { engine, platform } = current;
      const writer = new RandomWriter(send, fresh.users, fresh.model, { concurrency: 3 });
      writer.start();
      let outcome: Awaited<ReturnType<typeof engine.waitFor>>;
      try {
        await engine.start({ batchSize: 4, services: ['shop'] });
        expect((await engine.waitFor())?.state).toBe('cut-over');
        await new Promise((resolve) => setTimeout(resolve, 200));
        await engine.rollback();
        outcome = await engine.waitFor(['rolled-back', 'failed']);
      } finally {
        await writer.stop();
      }
      // The source the users were moving away from takes the reverse stream until the move
      // completes (data rests in the source and the destination alone), so the roll-back runs.
      expect(outcome?.state).toBe('rolled-back');
      expect(await modelProblems(send, fresh.users, fresh.model)).toEqual([]);
      const moved = fresh.users.filter((u) => u.market !== 'CN');
      const homes = await Promise.all(
        moved.map(async (u) => (await platform.directory.home(u.userId, 'shop'))?.region),
      );
      expect(homes.every((h) => h === 'cn-beijing')).toBe(true);
      // Back where they were, which phase 1 does not allow: the report says so.
      const report = await residencyReport(platform);
      expect(report.violations.some((v) => v.service === 'shop' && v.region === 'cn-beijing')).toBe(true);
      expect(report.violations.every((v) => v.region === 'cn-beijing')).toBe(true);
      await current.close();
      current = undefined;
    } finally {
      fresh.data.remove();
    }
  });
});
