import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FaultPoint, withheldKey } from '../../src/migrate/migration-types.js';
import { listMovingUsers } from '../../src/migrate/moving-users.js';
import { importOne } from '../region/support/single-user-calls.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { intercept, openPhase, type PhasePlatform } from './support/phase-platform.js';
import { modelProblems, RandomWriter, registerUsers, type TestUser, WriteModel } from './support/random-writer.js';

/**
 * A destination row that differs from its source (a corrupted copy) must stop the batch, be
 * named, and refuse the cut-over: the users stay served by the source. Resuming copies the
 * batch again from scratch, and the migration then finishes with nothing lost.
 */
describe('verification', () => {
  const folders: Array<{ remove: () => void }> = [];
  let current: PhasePlatform | undefined;
  const send = injectSender(() => current!.app);
  let model = new WriteModel();
  let users: TestUser[] = [];
  let data: ReturnType<typeof tempDir>;

  /** A fresh data folder with users who wrote under `before`. */
  async function seed(): Promise<void> {
    data = tempDir('migrate-verify');
    folders.push(data);
    current = await openPhase(data.path, 'before');
    users = await registerUsers(send, ['HK', 'IN', 'SG', 'US'], 3, 'verify');
    model = new WriteModel();
    await new RandomWriter(send, users, model).seed(5);
    await current.close();
    current = undefined;
  }

  beforeEach(seed);
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  afterAll(() => {
    for (const f of folders) f.remove();
  });

  it('per-record hashes that leave a region are keyed by the digest key the coordinator sends', async () => {
    current = await openPhase(data.path, 'before');
    const region = current.platform.region('cn-beijing');
    const userId = users.find((u) => u.market === 'IN')!.userId;
    const [exported] = await region.exportUsers({ service: 'shop', userIds: [userId] });
    const record = exported!.records[0]!;
    const unkeyed = createHash('sha256').update(JSON.stringify(record.value)).digest('hex');
    const keyA = randomBytes(32).toString('hex');
    const keyB = randomBytes(32).toString('hex');
    const hashOf = async (digestKey?: string) =>
      (
        await region.digestUsers({ service: 'shop', userIds: [userId], ...(digestKey ? { digestKey } : {}) })
      )[0]!.records.find((r) => r.key === record.key)!.hash;
    const [a, a2, b, none] = [await hashOf(keyA), await hashOf(keyA), await hashOf(keyB), await hashOf()];
    expect(a).toBe(a2);
    expect(a).not.toBe(b);
    for (const h of [a, b, none, record.hash]) expect(h).not.toBe(unkeyed);
    const [again] = await region.exportUsers({ service: 'shop', userIds: [userId], digestKey: keyA });
    expect(again!.records.find((r) => r.key === record.key)!.hash).toBe(a);
    const states = await region.readRecordStates({
      service: 'shop',
      userId,
      refs: [{ collection: record.collection, key: record.key }],
      digestKey: keyA,
    });
    expect(states.records[0]!.hash).toBe(a);
    await expect(region.digestUsers({ service: 'shop', userIds: [userId], digestKey: 'short' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });

  it('refuses the cut-over of a batch whose destination holds a corrupted row, names it, and recovers on resume', async () => {
    let corrupted: { userId: string; collection: string; key: string; version: number } | undefined;
    const fault = async (point: FaultPoint) => {
      if (point !== 'after-copy-batch' || corrupted || !current) return;
      // The first batch's first user: change one of its copied rows in Singapore, same version.
      const { engine, platform } = current;
      const batch = (await engine.store.batches((await engine.status())!.id))[0]!;
      const victim = (await engine.store.movers(batch.migrationId, batch.id))[0]!;
      const dest = platform.region(batch.destination);
      const [exported] = await dest.exportUsers({ service: 'shop', userIds: [victim.userId] });
      const row = exported!.records[0]!;
      await importOne(dest, {
        service: 'shop',
        userId: victim.userId,
        market: victim.market,
        epoch: victim.epoch,
        states: { records: [{ ...row, value: { tampered: true } }], deleted: [] },
      });
      corrupted = { userId: victim.userId, collection: row.collection, key: row.key, version: row.version };
    };
    current = await openPhase(data.path, 'phase1', { fault });
    const { engine, platform } = current;
    // The writer leaves the victim alone, so that no catch-up repairs the row by chance.
    const victimId = (await listMovingUsers(platform.directory, platform.policy, ['shop']))[0]!.userId;
    const writer = new RandomWriter(
      send,
      users.filter((u) => u.userId !== victimId),
      model,
      { concurrency: 2 },
    );
    writer.start();
    try {
      await engine.start({ batchSize: 2, services: ['shop'] });
      const failed = await engine.waitFor();
      expect(failed?.state).toBe('failed');
      expect(corrupted?.userId, failed?.error ?? 'no error').toBe(victimId);
      // Named by user, collection and version; never by the client's key, which would rest in the coordinator's state and log.
      expect(failed?.error).toContain(
        `${victimId} ${corrupted!.collection}/${withheldKey}: content differs at version ${corrupted!.version}`,
      );
      expect(failed?.error).not.toContain(corrupted!.key);
      expect(failed?.error).toMatch(/cut-over is refused/);
      expect(failed?.mismatches).toEqual([
        expect.objectContaining({
          userId: victimId,
          collection: corrupted!.collection,
          key: withheldKey,
          problem: `content differs at version ${corrupted!.version}`,
        }),
      ]);
      // What rests in the coordinator is a truncated tag of a keyed hash, not SHA-256 of a plaintext.
      const stored = (await engine.store.batches(failed!.id)).flatMap((b) => b.mismatches ?? []);
      expect(stored).toHaveLength(1);
      for (const m of [...stored, ...failed!.mismatches!]) {
        expect(m.source?.hash).toMatch(/^[0-9a-f]{12}$/);
        expect(m.destination?.hash).toMatch(/^[0-9a-f]{12}$/);
      }
      // Refused: the directory still homes the batch in Beijing, and Beijing serves them.
      expect((await platform.directory.home(victimId, 'shop'))?.region).toBe('cn-beijing');
      const victim = users.find((u) => u.userId === victimId)!;
      expect((await send('PUT', '/v1/me/shop/cart/after-refusal', victim.token, { ok: 1 })).status).toBe(200);
      expect((await send('DELETE', '/v1/me/shop/cart/after-refusal', victim.token)).status).toBe(204);

      // Resume copies the failed batch again, and this time it verifies.
      expect((await engine.resume()).state).toBe('running');
      const cut = await engine.waitFor();
      expect(cut?.error ?? null).toBeNull();
      expect(cut?.state).toBe('cut-over');
      expect(cut?.mismatches).toEqual([]);
      await engine.complete();
      expect((await engine.waitFor(['completed', 'failed']))?.state).toBe('completed');
    } finally {
      await writer.stop();
    }
    expect(await modelProblems(send, users, model)).toEqual([]);
    expect((await platform.directory.home(victimId, 'shop'))?.region).toBe('sg-singapore');
  });

  it('catches under the fence a record written just before it and corrupted on its way, and unfences the users', async () => {
    // A write lands in the source in the instant before the fence (so only the drain carries
    // it), and the destination stores it wrong: only the verification under the fence can see it.
    let late: { userId: string } | undefined;
    let tampered = false;
    current = await openPhase(data.path, 'phase1', {}, (platform) => {
      const regions = new Map(platform.regions);
      const beijing = platform.region('cn-beijing');
      regions.set(
        'cn-beijing',
        intercept(beijing, {
          setTenancies: async (req) => {
            const first = req.tenancies[0];
            if (first?.status === 'fenced' && !late) {
              // The batch's first user writes in the instant before the batch is fenced.
              late = { userId: first.userId };
              await beijing.putRecord({
                userId: first.userId,
                service: req.service,
                epoch: first.epoch,
                collection: 'cart',
                key: 'late',
                value: { late: true },
              });
            }
            return beijing.setTenancies(req);
          },
        }),
      );
      for (const id of ['sg-singapore', 'us-california']) {
        const real = platform.region(id);
        regions.set(
          id,
          intercept(real, {
            importUsers: async (req) => {
              const users = req.users.map((u) => ({
                ...u,
                states: {
                  ...u.states,
                  records: u.states.records.map((r) => {
                    if (r.key !== 'late' || tampered) return r;
                    tampered = true;
                    return { ...r, value: { late: 'tampered' } };
                  }),
                },
              }));
              return real.importUsers({ ...req, users });
            },
          }),
        );
      }
      return {
        ...platform,
        policy: platform.policy,
        dataDir: platform.dataDir,
        directory: platform.directory,
        regions,
      };
    });
    const { engine, platform } = current;
    const m = await engine.start({ batchSize: 2, services: ['shop'] });
    expect(m.state).toBe('running');
    const refused = await engine.waitFor();
    expect(refused?.state).toBe('failed');
    expect(tampered).toBe(true);
    expect(refused?.error).toMatch(/cut-over is refused/);
    expect(refused?.mismatches).toEqual([
      expect.objectContaining({
        userId: late!.userId,
        collection: 'cart',
        key: withheldKey,
        problem: 'content differs at version 1',
      }),
    ]);
    expect(JSON.stringify(refused)).not.toContain('late"');
    // Unfenced and still at home in Beijing: the user writes at once.
    expect((await platform.directory.home(late!.userId, 'shop'))?.region).toBe('cn-beijing');
    const user = users.find((u) => u.userId === late!.userId)!;
    expect((await send('GET', '/v1/me/shop/cart/late', user.token)).json).toMatchObject({ value: { late: true } });
    expect((await send('DELETE', '/v1/me/shop/cart/late', user.token)).status).toBe(204);
    // Copied again on resume (the destination's copy is discarded first), it verifies.
    await engine.resume();
    expect((await engine.waitFor())?.state).toBe('cut-over');
    await engine.complete();
    expect((await engine.waitFor(['completed', 'failed']))?.state).toBe('completed');
    expect(await modelProblems(send, users, model)).toEqual([]);
  });
});
