import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit-event.js';
import { AuditLog, readAuditPage } from '../../src/audit/audit-log.js';
import { AuditSigner } from '../../src/audit/audit-signer.js';
import { verifyLog } from '../../src/audit/verify-log.js';
import { PostgresRegionStore } from '../../src/store/postgres/postgres-region-store.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const regionId = 'sg-singapore';

function consent(user: string): AuditEvent {
  return {
    type: 'consent',
    user,
    service: 'cloud',
    purpose: 'cloud-backup',
    decision: 'grant',
    notice: null,
    jurisdiction: 'SG-PDPA-2012',
    method: 'test',
    source: 'test',
  };
}

/**
 * A region's node pool shares one PostgreSQL store and one audit log: nodes that append at the
 * same time collide (each signs a checkpoint over the log as it last saw it), and every append
 * must still land once, however often it loses the race, and the log verify after.
 */
describe('audit appends from a node pool on one PostgreSQL store', () => {
  const data = tempDir('audit-pool');
  const schema = `ap_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
  const stores: PostgresRegionStore[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    data.remove();
  });

  it('lands every append of three nodes appending at once, and the log verifies', async () => {
    await admin.query(`CREATE SCHEMA ${schema}`);
    const signer = AuditSigner.open({ path: join(data.path, 'audit-signing-key.json'), regionId });
    const logs: AuditLog[] = [];
    for (let n = 0; n < 3; n++) {
      const store = new PostgresRegionStore({ url: testPostgresUrl, schema });
      stores.push(store);
      await store.init();
      const log = new AuditLog(regionId, store, signer);
      await log.init();
      logs.push(log);
    }
    const perNode = 25;
    const seqs = await Promise.all(
      logs.map(async (log, n) => {
        const mine: number[] = [];
        for (let i = 0; i < perNode; i++) {
          const [seq] = await log.record([{ id: `node-${n}-event-${i}`, event: consent(`user-${n}-${i}`) }]);
          mine.push(seq!);
        }
        return mine;
      }),
    );
    const all = seqs.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 3 * perNode }, (_, i) => i + 1));
    const verified = await verifyLog(regionId, (afterSeq, limit) =>
      readAuditPage(regionId, signer.publicKey, stores[0]!, afterSeq, limit),
    );
    expect(verified.problems).toEqual([]);
    expect(verified.size).toBe(3 * perNode);
  });
});
