import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { openRegionNode, regionPaths } from '../../src/region/open-region-node.js';
import type { RegionNode } from '../../src/region/region-node.js';
import { testPostgresUrl } from '../support/postgres.js';
import { expectCode, fastScrypt, tempDir, testPolicy } from './fixtures.js';

/**
 * An attacker (or a botched restore) with write access to a region's database but not its keys
 * puts a record's own earlier ciphertext back into its row: the value is bound to its version,
 * so the row no longer opens (INTEGRITY) instead of being served as the current version.
 */
describe('a record rolled back in its row', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** The user's only row in the collection, read and written directly in the region's database. */
  interface Rows {
    ciphertext(): Promise<Buffer>;
    putBack(ciphertext: Buffer): Promise<void>;
  }

  async function open(backend: 'sqlite' | 'postgres'): Promise<{ node: RegionNode; rows: Rows }> {
    const data = tempDir('rollback');
    cleanups.push(() => data.remove());
    const where = "user_id = 'u1' AND service = 'shop' AND collection = 'orders'";
    if (backend === 'sqlite') {
      const node = await openRegionNode({
        policy: testPolicy,
        regionId: 'sg-singapore',
        dataDir: data.path,
        scrypt: fastScrypt,
        exclusive: false,
      });
      cleanups.push(() => node.close());
      const db = () => new Database(regionPaths(data.path, 'sg-singapore').store);
      return {
        node,
        rows: {
          ciphertext: async () => {
            const d = db();
            try {
              return (d.prepare(`SELECT ciphertext FROM records WHERE ${where}`).get() as { ciphertext: Buffer })
                .ciphertext;
            } finally {
              d.close();
            }
          },
          putBack: async (ciphertext) => {
            const d = db();
            try {
              d.prepare(`UPDATE records SET ciphertext = ? WHERE ${where}`).run(ciphertext);
            } finally {
              d.close();
            }
          },
        },
      };
    }
    const made = await postgresSchemas(testPostgresUrl, ['rollback_sg']);
    cleanups.push(made.drop);
    const schema = made.schemas.rollback_sg!;
    const node = await openRegionNode({
      policy: onPostgres(testPolicy, testPostgresUrl, { 'sg-singapore': schema }),
      regionId: 'sg-singapore',
      dataDir: data.path,
      scrypt: fastScrypt,
    });
    cleanups.push(() => node.close());
    const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
    cleanups.push(() => admin.end());
    return {
      node,
      rows: {
        ciphertext: async () =>
          (await admin.query<{ ciphertext: Buffer }>(`SELECT ciphertext FROM ${schema}.records WHERE ${where}`))
            .rows[0]!.ciphertext,
        putBack: async (ciphertext) => {
          await admin.query(`UPDATE ${schema}.records SET ciphertext = $1 WHERE ${where}`, [ciphertext]);
        },
      },
    };
  }

  it.each(['sqlite', 'postgres'] as const)(
    'fails with INTEGRITY instead of serving the old value as current (%s)',
    async (backend) => {
      const { node, rows } = await open(backend);
      const ref = { userId: 'u1', service: 'shop', epoch: 1 };
      await node.openTenancy({ ...ref, market: 'SG' });
      await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { paid: false } });
      const first = await rows.ciphertext();
      expect((await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { paid: true } })).version).toBe(
        2,
      );
      expect((await node.getRecord({ ...ref, collection: 'orders', key: 'o1' }))?.value).toEqual({ paid: true });

      await rows.putBack(first);
      await expectCode(node.getRecord({ ...ref, collection: 'orders', key: 'o1' }), 'INTEGRITY');
      await expectCode(node.listRecords({ ...ref, collection: 'orders' }), 'INTEGRITY');
      await expectCode(node.exportUsers({ service: 'shop', userIds: ['u1'] }), 'INTEGRITY');

      // A write that does not name its version (a blind write) seals for the version after the row's, and repairs it.
      expect(
        (await node.putRecord({ ...ref, collection: 'orders', key: 'o1', value: { paid: true, again: true } })).version,
      ).toBe(3);
      expect(await node.getRecord({ ...ref, collection: 'orders', key: 'o1' })).toMatchObject({
        version: 3,
        value: { paid: true, again: true },
      });
    },
    30_000,
  );

  it.each(['sqlite', 'postgres'] as const)(
    'never answers CONFLICT to a blind write: 20 at once to one key all land, versions 1 to 20 each once (%s)',
    async (backend) => {
      const { node } = await open(backend);
      const ref = { userId: 'u1', service: 'shop', epoch: 1 };
      await node.openTenancy({ ...ref, market: 'SG' });
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          node.putRecord({ ...ref, collection: 'orders', key: 'hot', value: { i } }),
        ),
      );
      expect(
        results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
      ).toEqual([]);
      const versions = results
        .map((r) => (r as PromiseFulfilledResult<{ version: number }>).value.version)
        .sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await node.getRecord({ ...ref, collection: 'orders', key: 'hot' })).toMatchObject({ version: 20 });
    },
    30_000,
  );

  it.each(['sqlite', 'postgres'] as const)(
    'lands concurrent blind writes to one key, each sealed for the version it got (%s)',
    async (backend) => {
      const { node } = await open(backend);
      const ref = { userId: 'u1', service: 'shop', epoch: 1 };
      await node.openTenancy({ ...ref, market: 'SG' });
      // In one turn: SQLite commits them in one group, each predicting the same version; all but one are corrected and retried.
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => node.putRecord({ ...ref, collection: 'orders', key: 'hot', value: { i } })),
      );
      expect(results.map((r) => r.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
      const last = results.findIndex((r) => r.version === 6);
      expect(await node.getRecord({ ...ref, collection: 'orders', key: 'hot' })).toMatchObject({
        version: 6,
        value: { i: last },
      });
      // A client's own ifVersion is used as given: its CONFLICT is the client's, naming the client's key.
      const conflict = await expectCode(
        node.putRecord({ ...ref, collection: 'orders', key: 'hot', value: 'stale', ifVersion: 2 }),
        'CONFLICT',
      );
      expect(conflict.message).toContain('orders/hot');
      expect(conflict.details).toMatchObject({ version: 6 });
    },
    30_000,
  );
});
