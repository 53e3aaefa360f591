import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSchema, onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import type { DsarOptions } from '../../src/dsar/dsar-service.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import type { Policy } from '../../src/policy/policy-schema.js';
import type { RegionClient } from '../../src/region/region-client.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir, liftedAuthThrottle, register } from '../support/test-platform.js';

/**
 * Data subject requests when gateways share a PostgreSQL directory: an erasure rests in the
 * shared database, so one that a gateway started and could not finish (it stopped, or died
 * mid-way) is finished by another; and gateways working the queue at once never work one
 * request twice. Every region's part of every erasure is counted, through whichever gateway.
 */
describe('data subject requests in a shared PostgreSQL database', () => {
  const root = tempDir('shared-dsar');
  const dirA = join(root.path, 'a');
  const dirB = join(root.path, 'b');
  let drop: (() => Promise<void>) | undefined;
  let policy: Policy;
  let directoryUrl: string;
  const users: string[] = [];
  /** "request region" → the gateways that called the region's erasure for it. */
  const calls = new Map<string, string[]>();
  const open: Platform[] = [];

  /** Counts every region erasure the gateway has done (the service reaches its regions through this map). */
  function countErasures(name: string, p: Platform): void {
    const regions = p.regions as Map<string, RegionClient>;
    for (const [id, client] of regions) {
      regions.set(
        id,
        new Proxy(client, {
          get(target, prop, receiver) {
            if (prop !== 'eraseUser') return Reflect.get(target, prop, receiver);
            return async (req: { userId: string; request: string }) => {
              const erased = await target.eraseUser(req);
              const key = `${req.request} ${id}`;
              calls.set(key, [...(calls.get(key) ?? []), name]);
              return erased;
            };
          },
        }),
      );
    }
  }

  async function gateway(name: string, dataDir: string, dsar: DsarOptions, remoteRegions = {}): Promise<Platform> {
    const p = await Platform.open({ policy, dataDir, durability: 'normal', directoryUrl, dsar, remoteRegions });
    countErasures(name, p);
    open.push(p);
    return p;
  }

  beforeAll(async () => {
    const made = await postgresSchemas(testPostgresUrl, ['cn-beijing', 'sg-singapore', 'us-california', 'directory']);
    drop = made.drop;
    const { directory, ...regions } = made.schemas;
    directoryUrl = inSchema(testPostgresUrl, directory!);
    policy = onPostgres(await loadPolicyFile(join(examplesDir, 'phase1.yaml')), testPostgresUrl, regions);
    const setup = await Platform.open({ policy, dataDir: dirA, durability: 'normal', directoryUrl });
    const app = await buildGateway(setup, { throttle: liftedAuthThrottle });
    try {
      for (let i = 0; i < 8; i++) {
        const u = await register(app, {
          email: `shared-dsar-${i}@example.com`,
          password: 'shared-dsar-password',
          market: ['SG', 'US', 'CN', 'HK'][i % 4],
        });
        users.push(u.userId);
      }
    } finally {
      await app.close();
      await setup.close();
    }
    // Gateway B: another machine with the same secrets and the regions' keys.
    mkdirSync(dirB, { recursive: true });
    cpSync(join(dirA, 'secrets'), join(dirB, 'secrets'), { recursive: true });
    cpSync(join(dirA, 'regions'), join(dirB, 'regions'), { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(open.map((p) => p.close()));
    await drop?.();
    root.remove();
  });

  it('finishes through gateway B an erasure that gateway A stopped in the middle of, and not while A holds it', async () => {
    const victim = users[0]!;
    let reachedSecond!: () => void;
    const atSecond = new Promise<void>((resolve) => {
      reachedSecond = resolve;
    });
    let goOn!: () => void;
    const gate = new Promise<void>((resolve) => {
      goOn = resolve;
    });
    let regionsSeen = 0;
    const a = await gateway('a', dirA, {
      // Long enough that A's renewals keep it, however slow the machine.
      leaseMs: 10_000,
      beforeRegionErase: async () => {
        if (++regionsSeen === 2) {
          reachedSecond();
          await gate;
        }
      },
    });
    const b = await gateway('b', dirB, {});

    const erasing = a.dsar.erase(victim, 'operator');
    await atSecond;
    // A is alive and holds the erasure: B leaves it alone.
    expect(await b.dsar.resume()).toEqual([]);
    // A stops while it waits in the second region's step: it stops there and hands the erasure back.
    const closing = a.close();
    goOn();
    const left = await erasing;
    await closing;
    expect(left).toMatchObject({ state: 'pending', regionsDone: [expect.any(String)] });
    expect(left.error).toMatch(/stopped/);

    const finished = await b.dsar.resume();
    expect(finished).toEqual([
      expect.objectContaining({ id: left.id, state: 'completed', error: null, regionsDone: expect.any(Array) }),
    ]);
    expect([...finished[0]!.regionsDone].sort()).toEqual([...b.regions.keys()].sort());
    expect(await b.directory.getUser(victim)).toBeUndefined();
    for (const region of b.regions.values()) expect(await region.describeUser({ userId: victim })).toEqual([]);
    // Each region erased once: the first through A, the others through B.
    const byRegion = [...b.regions.keys()].map((r) => calls.get(`${left.id} ${r}`));
    expect(byRegion).toEqual([['a'], ['b'], ['b']]);
    expect(await b.dsar.status(left.id)).toMatchObject({ state: 'completed' });
  }, 60_000);

  it('lets gateway B finish an erasure whose gateway died mid-way, once the dead one’s lease runs out', async () => {
    const victim = users[1]!;
    let regionsSeen = 0;
    // A dies (nothing of it runs again: no step, no renewal, no release) as it reaches the second region.
    const a = await gateway('a', dirA, {
      leaseMs: 300,
      beforeRegionErase: () => {
        if (++regionsSeen === 2) throw new Error('killed (fault injection)');
      },
    });
    const b = await gateway('b', dirB, {});
    await expect(a.dsar.erase(victim, 'user')).rejects.toThrow(/killed/);

    let finished: Awaited<ReturnType<typeof b.dsar.resume>> = [];
    const deadline = Date.now() + 20_000;
    while (finished.length === 0 && Date.now() < deadline) {
      finished = await b.dsar.resume();
      if (finished.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(finished).toEqual([expect.objectContaining({ state: 'completed', error: null })]);
    const id = finished[0]!.id;
    expect(await b.directory.getUser(victim)).toBeUndefined();
    // A died before the second region: B did it and the third, each once.
    expect([...b.regions.keys()].map((r) => calls.get(`${id} ${r}`))).toEqual([['a'], ['b'], ['b']]);
    await a.close();
    await b.close();
  }, 60_000);

  it('never works one erasure twice when two gateways work the queue at once', async () => {
    // Each step takes a little while, so that the two gateways' claims interleave.
    const slow = () => new Promise<void>((resolve) => setTimeout(resolve, 20));
    const a = await gateway('a', dirA, { beforeRegionErase: slow });
    const b = await gateway('b', dirB, { beforeRegionErase: slow });
    // Six erasures left pending by a third gateway that could not reach us-california.
    const c = await gateway('c', dirA, {}, { 'us-california': 'http://127.0.0.1:9' });
    const pending: string[] = [];
    for (const user of users.slice(2)) {
      const r = await c.dsar.erase(user, 'operator');
      expect(r).toMatchObject({ state: 'pending' });
      expect(r.error).toMatch(/region us-california/);
      pending.push(r.id);
    }
    await c.close();

    // Both work the queue at once. A region's part that fails (two nodes of one region appending
    // to its audit log at once may, see audit-log.ts) leaves the erasure pending for the next
    // pass, as a gateway's next round would: a few rounds finish every one.
    const completed: string[] = [];
    for (let round = 0; round < 5; round++) {
      const [byA, byB] = await Promise.all([a.dsar.resume(), b.dsar.resume()]);
      completed.push(...[...byA, ...byB].filter((r) => r.state === 'completed').map((r) => r.id));
      const left = await Promise.all(pending.map((id) => a.dsar.status(id)));
      if (left.every((r) => r.state === 'completed')) break;
    }
    // Each finished once, by one gateway.
    expect([...completed].sort()).toEqual([...pending].sort());
    for (const id of pending) {
      const request = await a.dsar.status(id);
      expect(request.state).toBe('completed');
      // cn-beijing was done by C; each of the others exactly once, by one gateway.
      expect(calls.get(`${id} cn-beijing`)).toEqual(['c']);
      for (const region of ['us-california', 'sg-singapore']) {
        expect(calls.get(`${id} ${region}`)).toHaveLength(1);
        expect(['a', 'b']).toContain(calls.get(`${id} ${region}`)![0]);
      }
    }
    for (const user of users.slice(2)) expect(await a.directory.getUser(user)).toBeUndefined();
    await a.close();
    await b.close();
  }, 60_000);
});
