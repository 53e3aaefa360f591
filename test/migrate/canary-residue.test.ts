import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres } from '../../bench/postgres-regions.js';
import type { Policy } from '../../src/policy/policy-schema.js';
import { regionPaths } from '../../src/region/open-region-node.js';
import { listFiles } from '../support/file-scan.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { injectSender } from './support/http-sender.js';
import { expectCutOverAndCompleted } from './support/migration-runs.js';
import { openPhase, type PhasePlatform, scenarioPolicy } from './support/phase-platform.js';
import { registerUsers, type TestUser } from './support/random-writer.js';

/**
 * Issue 14's canary: a Singapore user writes records under `before` (everything in Beijing)
 * whose keys and values are unique strings; phase 1 then phase 2 move all of the user's
 * services out of Beijing, each completed. Afterwards nothing in any file of Beijing may
 * name the user (their id is allowed only inside the pseudonymous audit entries), their keys
 * or their values; and no file anywhere may hold a value in plaintext. Beijing rests in SQLite
 * in one run and in PostgreSQL in the other (its relation files read through the server,
 * after a CHECKPOINT).
 *
 * The last case (record keys in plaintext in no file anywhere) is item 2 of the issue, which
 * another branch implements: it fails until that branch is merged, and then must pass.
 */
const tag = randomBytes(6).toString('hex');
const canary = {
  keys: {
    shop: `contact-6591234567-${tag}-s`,
    account: `contact-6591234567-${tag}-a`,
    messaging: `contact-6591234567-${tag}-m`,
  },
  value: `canary-value-${tag}`,
};
const canaryWrites = [
  ['shop', 'orders', canary.keys.shop],
  ['account', 'identity', canary.keys.account],
  ['messaging', 'messages', canary.keys.messaging],
] as const;

/** A named file's bytes (a file on disk, or a PostgreSQL relation's file read through the server). */
interface FileBytes {
  name: string;
  bytes: Buffer;
}

function occurrences(haystack: Buffer, needle: Buffer): number {
  let n = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) n++;
  return n;
}

function holding(files: readonly FileBytes[], needle: string): string[] {
  const bytes = Buffer.from(needle);
  return files.filter((f) => f.bytes.includes(bytes)).map((f) => f.name);
}

function diskFiles(dir: string): FileBytes[] {
  return listFiles(dir).map((name) => ({ name, bytes: readFileSync(name) }));
}

/** Every relation file (tables, indexes, TOAST, free space and visibility maps) of a schema, flushed to disk first. */
async function schemaFiles(admin: pg.Pool, schema: string): Promise<FileBytes[]> {
  await admin.query('CHECKPOINT');
  const rels = await admin.query<{ path: string }>(
    `SELECT pg_relation_filepath(c.oid) AS path FROM pg_class c
     WHERE c.relnamespace = $1::regnamespace
        OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = $1::regnamespace)
        OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid WHERE t.relnamespace = $1::regnamespace OR t.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = $1::regnamespace))`,
    [schema],
  );
  const files: FileBytes[] = [];
  for (const { path } of rels.rows) {
    if (!path) continue;
    for (const fork of ['', '_fsm', '_vm']) {
      const name = `${path}${fork}`;
      const read = await admin.query<{ bytes: Buffer | null }>(
        'SELECT pg_read_binary_file($1, 0, s.size, true) AS bytes FROM pg_stat_file($1, true) AS s WHERE s.size IS NOT NULL',
        [name],
      );
      const bytes = read.rows[0]?.bytes;
      if (bytes) files.push({ name: `${schema}:${name}`, bytes });
    }
  }
  return files;
}

describe.each(['sqlite', 'postgres'] as const)(
  'a canary written under before, after phase 1 and phase 2 completed (Beijing on %s)',
  (backend) => {
    const data = tempDir(`canary-${backend}`);
    const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 2 });
    const schema = `canary_bj_${process.pid}_${Date.now().toString(36)}`;
    const withStores = (policy: Policy): Policy =>
      backend === 'postgres' ? onPostgres(policy, testPostgresUrl, { 'cn-beijing': schema }) : policy;
    let current: PhasePlatform | undefined;
    const send = injectSender(() => current!.app);
    let user: TestUser;
    let others: TestUser[];
    /** Beijing's files once the moves are completed and the platform is closed, and the audit entries it keeps. */
    let source: FileBytes[] = [];
    let auditEntries: Buffer[] = [];
    let everywhere: FileBytes[] = [];
    /** On PostgreSQL, the user id's occurrences in the schema's files before VACUUM FULL (printed with DOMICILE_TEST_VERBOSE). */
    let deadBytes = 0;

    async function write(u: TestUser, service: string, collection: string, key: string, value: unknown): Promise<void> {
      const res = await send('PUT', `/v1/me/${service}/${collection}/${encodeURIComponent(key)}`, u.token, value);
      expect(res.status, `${service}/${collection}/${key}: ${JSON.stringify(res.json)}`).toBeLessThan(300);
    }

    async function migrateTo(phase: string): Promise<void> {
      current = await openPhase(data.path, withStores(await scenarioPolicy(phase)));
      try {
        // Other users keep writing while the move runs, and the canary is rewritten too.
        const writing = (async () => {
          for (let i = 0; i < 5; i++)
            for (const o of others) await write(o, 'shop', 'orders', `o-${phase}-${i}`, { n: i });
        })();
        await current.engine.start({ batchSize: 2 });
        await expectCutOverAndCompleted(current.engine);
        await writing;
        for (const [service, collection, key] of canaryWrites) {
          const res = await send('GET', `/v1/me/${service}/${collection}/${encodeURIComponent(key)}`, user.token);
          expect(res.status, `${service} after ${phase}`).toBe(200);
          expect(JSON.stringify(res.json)).toContain(canary.value);
        }
      } finally {
        await current.close();
        current = undefined;
      }
    }

    beforeAll(async () => {
      if (backend === 'postgres') await admin.query(`CREATE SCHEMA ${schema}`);
      current = await openPhase(data.path, withStores(await scenarioPolicy('before')));
      [user] = (await registerUsers(send, ['SG'], 1, `canary-${backend}`)) as [TestUser];
      others = await registerUsers(send, ['CN', 'HK', 'SG'], 2, `canary-others-${backend}`);
      // Written, rewritten, deleted and written again: every way a row's old copies could linger.
      for (const [service, collection, key] of canaryWrites) {
        for (let v = 0; v < 3; v++) await write(user, service, collection, key, { note: canary.value, v });
        expect(
          (await send('DELETE', `/v1/me/${service}/${collection}/${encodeURIComponent(key)}`, user.token)).status,
        ).toBeLessThan(300);
        await write(user, service, collection, key, { note: canary.value, v: 3 });
      }
      expect((await current.platform.directory.home(user.userId, 'shop'))?.region).toBe('cn-beijing');
      await current.close();
      current = undefined;

      await migrateTo('phase1');
      await migrateTo('phase2');

      // Closed: a SQLite file's write-ahead log is folded into it, so an audit entry is counted once.
      const beijing = regionPaths(data.path, 'cn-beijing');
      source = diskFiles(beijing.dir);
      if (backend === 'postgres') {
        // PostgreSQL keeps a deleted row's bytes in its table's and indexes' files (a dead tuple,
        // and after a VACUUM free space that is not zeroed) until the table is rewritten: the
        // operator's step after completing a move (docs/operations.md) is VACUUM FULL of the
        // region's tables, which keeps every live row. So what is scanned here is what the purge
        // left live, in every table, index and TOAST file of the region's schema.
        deadBytes = (await schemaFiles(admin, schema)).reduce(
          (n, f) => n + occurrences(f.bytes, Buffer.from(user.userId)),
          0,
        );
        const tables = await admin.query<{ name: string }>(
          `SELECT tablename AS name FROM pg_tables WHERE schemaname = $1`,
          [schema],
        );
        for (const t of tables.rows) await admin.query(`VACUUM FULL ${schema}.${t.name}`);
        source.push(...(await schemaFiles(admin, schema)));
        auditEntries = (await admin.query<{ entry: Buffer }>(`SELECT entry FROM ${schema}.audit_entries`)).rows.map(
          (r) => r.entry,
        );
      } else {
        const db = new Database(beijing.store, { readonly: true });
        auditEntries = db
          .prepare<[], { entry: Buffer }>('SELECT entry FROM audit_entries')
          .all()
          .map((r) => r.entry);
        db.close();
      }
      if (process.env.DOMICILE_TEST_VERBOSE && backend === 'postgres')
        console.log(`user id in Beijing's relation files before VACUUM FULL: ${deadBytes}`);
      everywhere = [...diskFiles(data.path), ...source.filter((f) => f.name.startsWith(`${schema}:`))];
    }, 240_000);

    afterAll(async () => {
      await current?.close();
      if (backend === 'postgres') await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
      data.remove();
    });

    it('leaves nothing in any file of Beijing that names the moved user, but its audit entries', async () => {
      expect(source.length).toBeGreaterThan(0);
      const id = Buffer.from(user.userId);
      const inAudit = auditEntries.reduce((n, e) => n + occurrences(e, id), 0);
      // The moves are in Beijing's audit log, under the user's pseudonymous id...
      expect(inAudit).toBeGreaterThan(0);
      // ...and that is the only place the id is: no change entry, tenancy, key or record, live or freed.
      const inFiles = source.reduce((n, f) => n + occurrences(f.bytes, id), 0);
      expect(
        inFiles,
        `the user id in ${source
          .filter((f) => f.bytes.includes(id))
          .map((f) => f.name)
          .join(', ')}`,
      ).toBe(inAudit);
      for (const key of Object.values(canary.keys)) expect(holding(source, key), key).toEqual([]);
      expect(holding(source, canary.value)).toEqual([]);
      // Beijing still serves its own users (the scan looked at a live region, not an empty one).
      const cn = others.find((o) => o.market === 'CN')!;
      expect(source.some((f) => f.bytes.includes(Buffer.from(cn.userId)))).toBe(true);
    });

    it('leaves the value in plaintext in no file anywhere (destinations, directory, coordinator)', () => {
      // The scan reaches the destination that now holds the user's data.
      expect(
        everywhere.some((f) => f.name.includes('sg-singapore') && f.bytes.includes(Buffer.from(user.userId))),
      ).toBe(true);
      expect(holding(everywhere, canary.value)).toEqual([]);
    });

    // Item 2 of issue 14 (record keys hashed, the key sealed inside the value): fails on a branch
    // without it, where the destinations hold the keys in plaintext. Enabled as it is, on purpose.
    it('[issue 14 item 2] leaves the record keys in plaintext in no file anywhere', () => {
      for (const key of Object.values(canary.keys)) expect(holding(everywhere, key), key).toEqual([]);
    });
  },
);
