import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadPolicyFile } from '../src/policy/load-policy.js';
import { openRegionNode } from '../src/region/open-region-node.js';
import { packageRoot } from '../src/shared/packaged-file.js';
import { SqliteRegionStore } from '../src/store/sqlite/sqlite-region-store.js';
import type { Figure } from './bench-output.js';
import { tempFolder } from './temp-folder.js';

const users = 50;
const regionId = 'sg-singapore';

function recordValue(i: number): { item: string; qty: number; note: string } {
  return { item: `sku-${i}`, qty: (i % 5) + 1, note: 'x'.repeat(150) };
}

/**
 * What the encryption layer costs: the same records written and read through a region node
 * (per-user keys, AES-256-GCM, associated data) and straight to the same kind of store with
 * the plaintext JSON as the "ciphertext" (a harness baseline, not a product switch). The two
 * arms alternate in rounds so that the machine's noise falls on both alike.
 */
export async function encryptionCost(options: {
  records: number;
  durability: 'full' | 'normal';
  rounds?: number;
}): Promise<Figure[]> {
  const rounds = options.rounds ?? 4;
  const perRound = Math.ceil(options.records / rounds);
  const policy = await loadPolicyFile(join(packageRoot, 'examples', 'phase3.yaml'));
  const nodeDir = tempFolder('bench-node');
  const rawDir = tempFolder('bench-raw');
  const node = await openRegionNode({ policy, regionId, dataDir: nodeDir.path, durability: options.durability });
  const raw = new SqliteRegionStore({
    path: join(rawDir.path, 'raw.db'),
    durability: options.durability,
    exclusive: true,
  });
  await raw.init();
  const ms = { nodeWrite: 0, rawWrite: 0, nodeRead: 0, rawRead: 0 };
  try {
    for (let u = 0; u < users; u++) {
      const ref = { userId: `u_bench${u}`, service: 'shop', epoch: 1, market: 'SG' };
      await node.openTenancy(ref);
      await raw.putTenancy({ ...ref, status: 'home', movedTo: null });
    }
    for (let round = 0; round < rounds; round++) {
      const base = round * perRound;
      let t = performance.now();
      for (let i = base; i < base + perRound; i++) {
        await node.putRecord({
          userId: `u_bench${i % users}`,
          service: 'shop',
          epoch: 1,
          collection: 'orders',
          key: `o-${i}`,
          value: recordValue(i),
        });
      }
      ms.nodeWrite += performance.now() - t;
      t = performance.now();
      for (let i = base; i < base + perRound; i++) {
        await raw.writeRecord({
          userId: `u_bench${i % users}`,
          service: 'shop',
          epoch: 1,
          collection: 'orders',
          key: `o-${i}`,
          ciphertext: Buffer.from(JSON.stringify(recordValue(i))),
        });
      }
      ms.rawWrite += performance.now() - t;
      t = performance.now();
      for (let i = base; i < base + perRound; i++) {
        await node.getRecord({
          userId: `u_bench${i % users}`,
          service: 'shop',
          epoch: 1,
          collection: 'orders',
          key: `o-${i}`,
        });
      }
      ms.nodeRead += performance.now() - t;
      t = performance.now();
      for (let i = base; i < base + perRound; i++) {
        const r = await raw.readRecord({
          userId: `u_bench${i % users}`,
          service: 'shop',
          epoch: 1,
          collection: 'orders',
          key: `o-${i}`,
        });
        if (r) JSON.parse(r.ciphertext.toString('utf8'));
      }
      ms.rawRead += performance.now() - t;
    }
  } finally {
    await node.close();
    await raw.close();
    nodeDir.remove();
    rawDir.remove();
  }
  const n = perRound * rounds;
  const rate = (elapsed: number) => (n / elapsed) * 1000;
  const d = options.durability;
  return [
    {
      name: `encrypted writes (store, ${d})`,
      value: rate(ms.nodeWrite),
      unit: 'rec/s',
      baseline: { name: 'plain store', value: rate(ms.rawWrite) },
      goal: { atLeast: 0.8, text: 'goal ≥ 0.80× (cost ≤ 20%)' },
    },
    {
      name: `encrypted reads (store, ${d})`,
      value: rate(ms.nodeRead),
      unit: 'rec/s',
      baseline: { name: 'plain store', value: rate(ms.rawRead) },
      goal: { atLeast: 0.8, text: 'goal ≥ 0.80× (cost ≤ 20%)' },
    },
  ];
}
