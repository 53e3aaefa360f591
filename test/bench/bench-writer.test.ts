import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BenchWriter, valuePool } from '../../bench/bench-writer.js';
import { benchUserIds, seedBenchUsers } from '../../bench/seed-bench-users.js';
import { Platform } from '../../src/platform/platform.js';
import { routeToHome } from '../../src/platform/route-to-home.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

const pool = valuePool();

async function shopRows(platform: Platform): Promise<number> {
  let n = 0;
  for (const s of await platform.region('cn-beijing').placementStats()) if (s.service === 'shop') n += s.records;
  return n;
}

describe('the bench writer and its checker', () => {
  let platform: Platform;
  let remove: () => void;

  beforeEach(async () => {
    const dir = tempDir('bench-writer');
    remove = dir.remove;
    const policy = await loadPolicyFile(join(examplesDir, 'before.yaml'));
    platform = await Platform.open({ policy, dataDir: dir.path, durability: 'normal' });
    await seedBenchUsers(platform, policy, {
      region: 'cn-beijing',
      userIds: benchUserIds(2),
      recordsPerUser: 3,
      valueBytes: 200,
      pool,
    });
  });

  afterEach(async () => {
    await platform.close();
    remove();
  });

  it('counts each row once when many loops hammer a few keys (no two operations on one key at once)', async () => {
    const writer = new BenchWriter(platform, benchUserIds(2), 3, { opsPerSecond: 4000, valueBytes: 200, pool });
    writer.start(8);
    await new Promise((r) => setTimeout(r, 1500));
    await writer.stop();
    expect(writer.acknowledged).toBeGreaterThan(100);
    expect(writer.counts.delete).toBeGreaterThan(10);
    expect(await writer.check(await shopRows(platform))).toEqual({ lostKeys: 0, rowCountDrift: 0 });
  });

  it('reports a row deleted behind its back as a key lost and as drift, and a row added behind its back as drift alone', async () => {
    const writer = new BenchWriter(platform, benchUserIds(2), 3, { opsPerSecond: 2000, valueBytes: 200, pool });
    writer.start(4);
    await new Promise((r) => setTimeout(r, 300));
    await writer.stop();
    expect(await writer.check(await shopRows(platform))).toEqual({ lostKeys: 0, rowCountDrift: 0 });

    const victim = [...writer.lastAcknowledged()].find((k) => k.live);
    if (!victim) throw new Error('the writer acknowledged no live record');
    const { deleted } = await routeToHome(platform, victim.userId, 'shop', (c, ref) =>
      c.deleteRecord({ ...ref, collection: 'orders', key: victim.key }),
    );
    expect(deleted).toBe(true);
    expect(await writer.check(await shopRows(platform))).toEqual({ lostKeys: 1, rowCountDrift: -1 });

    await routeToHome(platform, victim.userId, 'shop', (c, ref) =>
      c.putRecord({ ...ref, collection: 'orders', key: 'planted', value: { n: -2 } }),
    );
    expect(await writer.check(await shopRows(platform))).toEqual({ lostKeys: 1, rowCountDrift: 0 });
  });

  it('sees a seeded row it never touched go missing in the row count alone', async () => {
    const first = benchUserIds(1)[0]!;
    // A writer of the first user that wrote nothing: only the row count can see a seeded row go.
    const writer = new BenchWriter(platform, [first], 3, { opsPerSecond: 0, valueBytes: 200, pool });
    writer.start();
    await writer.stop();
    const rowsOfFirst = async () => (await shopRows(platform)) - 3;
    expect(await writer.check(await rowsOfFirst())).toEqual({ lostKeys: 0, rowCountDrift: 0 });
    await routeToHome(platform, first, 'shop', (c, ref) => c.deleteRecord({ ...ref, collection: 'orders', key: 'r1' }));
    expect(await writer.check(await rowsOfFirst())).toEqual({ lostKeys: 0, rowCountDrift: -1 });
  });

  it('counts a refused write as refused, never as acknowledged', async () => {
    // A user the directory does not know: every write is refused (NOT_FOUND), and so is the read after it.
    const writer = new BenchWriter(platform, ['u_nobody'], 3, { opsPerSecond: 500, valueBytes: 200, pool });
    writer.start(2);
    await new Promise((r) => setTimeout(r, 200));
    await writer.stop();
    expect(writer.counts.refused).toBeGreaterThan(10);
    expect(writer.acknowledged).toBe(0);
    expect(writer.counts.refusedButApplied).toBe(0);
    expect(writer.unresolved).toBeGreaterThan(0);
  });
});
