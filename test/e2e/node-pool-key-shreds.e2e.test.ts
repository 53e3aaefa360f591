import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { type SpawnedServer, spawnServer } from '../../bench/spawn-server.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { HttpRegionClient } from '../../src/region/http-region-client.js';
import { domicileBin } from '../support/cli.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir } from '../support/test-platform.js';

const region = 'sg-singapore';
const nodeToken = 'pool-test-node-token';

/**
 * Two node processes of one region (`domicile region`) on one PostgreSQL store, as a node
 * pool runs: a key shredded through node A is forgotten by node B at once. To see that B
 * no longer holds the key, the shredded records are put back from a "backup" (their rows as
 * they were, keys left out) after the shred: a node that still had the key in its cache would
 * open them; a node that forgot it cannot.
 */
describe('a node pool agrees on shredded keys', () => {
  const data = tempDir('node-pool');
  const nodes: SpawnedServer[] = [];
  let a: HttpRegionClient;
  let b: HttpRegionClient;
  let schema: string;
  let drop: () => Promise<void>;
  let sql: pg.Pool;
  beforeAll(async () => {
    const pgs = await postgresSchemas(testPostgresUrl, [region]);
    drop = pgs.drop;
    schema = pgs.schemas[region]!;
    sql = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
    const policy = onPostgres(await loadPolicyFile(join(examplesDir, 'phase3.yaml')), testPostgresUrl, pgs.schemas);
    writeFileSync(join(data.path, 'pool.yaml'), stringify(policy));
    const env = { DOMICILE_LOG: 'off', DOMICILE_NODE_TOKEN: nodeToken };
    // One after the other: the first creates the store's schema and the region's keyring, which the second shares.
    for (const _ of [1, 2]) {
      nodes.push(
        await spawnServer(
          [
            domicileBin,
            'region',
            '--id',
            region,
            '--data',
            join(data.path, 'd'),
            '--port',
            '0',
            '--policy',
            join(data.path, 'pool.yaml'),
          ],
          /is up at/,
          env,
        ),
      );
    }
    const client = (n: SpawnedServer) => new HttpRegionClient({ regionId: region, baseUrl: n.url, nodeToken });
    a = client(nodes[0]!);
    b = client(nodes[1]!);
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await sql?.end();
    await drop?.();
    data.remove();
  });

  /** A user of the cloud service at home here, with consent to back up contacts and one contact stored through A. */
  async function contactOf(userId: string) {
    const ref = { userId, service: 'cloud', epoch: 1 };
    await a.openTenancy({ ...ref, market: 'SG' });
    await a.recordConsent({
      ...ref,
      purpose: 'cloud-backup',
      decision: 'grant',
      noticeVersion: '2014-08',
      method: 'settings',
      source: 'test',
    });
    await a.putRecord({ ...ref, collection: 'contacts', key: 'alice', value: { phone: '+65 6000 0000' } });
    const read = { ...ref, collection: 'contacts', key: 'alice' };
    // Read through B: its cache now holds the user's keys.
    expect((await b.getRecord(read))?.value).toEqual({ phone: '+65 6000 0000' });
    return { ref, read };
  }

  /** The user's rows of these tables as they are now, and a way to put them back. */
  async function backup(userId: string, tables: string[]): Promise<() => Promise<void>> {
    const saved = new Map<string, Record<string, unknown>[]>();
    for (const t of tables)
      saved.set(t, (await sql.query(`SELECT * FROM ${schema}.${t} WHERE user_id = $1`, [userId])).rows);
    return async () => {
      for (const [t, rows] of saved)
        for (const row of rows) {
          const cols = Object.keys(row);
          await sql.query(
            `INSERT INTO ${schema}.${t} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT DO NOTHING`,
            Object.values(row),
          );
        }
    };
  }

  it('after a consent withdrawal through A, B cannot open the category it shredded', async () => {
    const { ref, read } = await contactOf('pool-withdraw');
    const restore = await backup(ref.userId, ['records']);
    await a.recordConsent({
      ...ref,
      purpose: 'cloud-backup',
      decision: 'withdraw',
      method: 'settings',
      source: 'test',
    });
    await restore();
    await expect(b.getRecord(read)).rejects.toMatchObject({ code: 'INTEGRITY' });
    await expect(a.getRecord(read)).rejects.toMatchObject({ code: 'INTEGRITY' });
  });

  it('after an erasure through A, B cannot open any of the user records', async () => {
    const { ref, read } = await contactOf('pool-erase');
    const restore = await backup(ref.userId, ['tenancies', 'records']);
    await a.eraseUser({ userId: ref.userId, request: 'pool-erase-1' });
    await restore();
    // Without the user key B cannot even name the record (its keyId is keyed by that key).
    expect(await b.getRecord(read)).toBeNull();
  });

  it('after a purge through A, B cannot open the purged service records', async () => {
    const { ref, read } = await contactOf('pool-purge');
    const restore = await backup(ref.userId, ['tenancies', 'records']);
    // A purge follows a move: the user's tenancy here says where they went.
    await a.setTenancies({
      service: 'cloud',
      tenancies: [{ userId: ref.userId, market: 'SG', epoch: 2, status: 'moved', movedTo: 'us-oregon' }],
    });
    await a.purgeUsers({ service: 'cloud', userIds: [ref.userId], reason: 'migration-complete' });
    await restore();
    // Without the user key B cannot even name the record (its keyId is keyed by that key).
    expect(await b.getRecord(read)).toBeNull();
  });

  it('after a withdrawal and a new grant through A, what B writes A can read', async () => {
    const { ref, read } = await contactOf('pool-regrant');
    await a.recordConsent({
      ...ref,
      purpose: 'cloud-backup',
      decision: 'withdraw',
      method: 'settings',
      source: 'test',
    });
    await a.recordConsent({
      ...ref,
      purpose: 'cloud-backup',
      decision: 'grant',
      noticeVersion: '2014-08',
      method: 'settings',
      source: 'test',
    });
    // B seals under the category key as it is now, not the one shredded (which no one could open).
    await b.putRecord({ ...read, value: { phone: '+65 6000 0001' } });
    expect((await a.getRecord(read))?.value).toEqual({ phone: '+65 6000 0001' });
  });
});
