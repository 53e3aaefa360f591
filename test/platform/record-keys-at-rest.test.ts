import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { onPostgres, postgresSchemas } from '../../bench/postgres-regions.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { filesContaining, listFiles } from '../support/file-scan.js';
import { testPostgresUrl } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { auth, examplesDir, grant, register } from '../support/test-platform.js';

/**
 * A record key is the client's string, and here it is a phone number: after a put, an update,
 * a large (blob-spilled) value, a delete and a sync, neither the key nor the phone number in it
 * rests anywhere, in any file of the data folder (region stores, their WAL, blob folders and
 * their address files, the directory) nor in a PostgreSQL region's records and change log,
 * while get, list, sync and the data subject's export still answer with the client's keys.
 */
const phone = '6591234567';
const key = `contact-${phone}`;
const bigKey = `photo-of-${phone}`;
const goneKey = `old-${phone}`;
const canary = 'CANARY-keys-3b9f1e-Hugo-Barra';

interface SyncPage {
  token: string;
  changes: Array<{ key: string; op: string; version: number; value?: unknown }>;
}

describe('record keys at rest', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it.each(['sqlite', 'postgres'] as const)(
    'no client key rests in plaintext in any store, file or table (%s), and every read still names it',
    async (backend) => {
      const data = tempDir('record-keys');
      cleanups.push(() => data.remove());
      let policy = await loadPolicyFile(join(examplesDir, 'phase3.yaml'));
      let schemas: Record<string, string> = {};
      if (backend === 'postgres') {
        const made = await postgresSchemas(testPostgresUrl, ['keys_mumbai']);
        cleanups.push(made.drop);
        schemas = { 'in-mumbai': made.schemas.keys_mumbai! };
        policy = onPostgres(policy, testPostgresUrl, schemas);
      }
      const platform = await Platform.open({ policy, dataDir: data.path, durability: 'normal' });
      const app = await buildGateway(platform);
      cleanups.push(async () => {
        await app.close();
        await platform.close();
      });
      expect((await platform.region('in-mumbai').health()).backend).toBe(backend);

      const user = await register(app, { email: 'keys@example.com', password: 'correct-horse', market: 'IN' });
      await grant(app, user.token, 'cloud-backup');
      const url = (k: string) => `/v1/me/cloud/contacts/${k}`;
      const put = async (k: string, value: unknown) => {
        const res = await app.inject({
          method: 'PUT',
          url: url(k),
          headers: auth(user.token),
          payload: value as Record<string, unknown>,
        });
        expect(res.statusCode, res.body).toBe(200);
      };
      const sync = async (since?: string): Promise<SyncPage> => {
        const res = await app.inject({
          method: 'GET',
          url: `/v1/me/sync/cloud${since ? `?since=${encodeURIComponent(since)}` : ''}`,
          headers: auth(user.token),
        });
        expect(res.statusCode, res.body).toBe(200);
        return res.json() as SyncPage;
      };

      await put(key, { name: 'Hugo', note: canary });
      await put(goneKey, { name: 'soon deleted' });
      const snapshot = await sync();
      expect(snapshot.changes.map((c) => c.key).sort()).toEqual([goneKey, key].sort());
      await put(key, { name: 'Hugo', note: `${canary} (2)` });
      // Large enough to rest in a blob file on SQLite (64 KiB and more).
      await put(bigKey, { name: 'big', blob: 'x'.repeat(80_000) });
      expect((await app.inject({ method: 'DELETE', url: url(goneKey), headers: auth(user.token) })).statusCode).toBe(
        204,
      );

      // Every read still names the records by the client's keys: get, list, sync (from the change log) and export.
      const got = await app.inject({ method: 'GET', url: url(key), headers: auth(user.token) });
      expect(got.json()).toMatchObject({ key, version: 2, value: { note: `${canary} (2)` } });
      const listed = (
        await app.inject({ method: 'GET', url: '/v1/me/cloud/contacts', headers: auth(user.token) })
      ).json() as { records: Array<{ key: string }> };
      expect(listed.records.map((r) => r.key)).toEqual([key, bigKey].sort());
      const changes = await sync(snapshot.token);
      expect(changes.changes.map((c) => [c.op, c.key, c.version]).sort()).toEqual([
        ['delete', goneKey, 1],
        ['put', key, 2],
        ['put', bigKey, 1],
      ]);
      const exported = await app.inject({ method: 'GET', url: '/v1/me/export', headers: auth(user.token) });
      expect(exported.statusCode, exported.body).toBe(200);
      for (const k of [key, bigKey]) expect(exported.body).toContain(`"key":"${k}"`);

      // The scan can find things: the pseudonymous user id rests in the clear, and the large value in a blob file.
      expect(filesContaining(data.path, user.userId).length).toBeGreaterThan(0);
      if (backend === 'sqlite')
        expect(listFiles(data.path).some((f) => f.includes('-blobs') && f.endsWith('address.json'))).toBe(true);
      // Nothing at rest holds them: not the files (databases, write-ahead logs, blob folders and their address files) ...
      for (const needle of [phone, canary]) expect(filesContaining(data.path, needle), needle).toEqual([]);
      // ... nor a PostgreSQL region's tables (bytea shows as hex in a row's text).
      if (backend === 'postgres') {
        const admin = new pg.Pool({ connectionString: testPostgresUrl, max: 1 });
        try {
          for (const table of ['records', 'changes']) {
            const rows = (
              await admin.query<{ row: string }>(`SELECT t::text AS row FROM ${schemas['in-mumbai']}.${table} t`)
            ).rows.map((r) => r.row);
            expect(rows.length, table).toBeGreaterThan(0);
            for (const needle of [phone, canary]) {
              const hex = Buffer.from(needle, 'utf8').toString('hex');
              expect(
                rows.filter((r) => r.includes(needle) || r.includes(hex)),
                `${table}: ${needle}`,
              ).toEqual([]);
            }
          }
        } finally {
          await admin.end();
        }
      }
    },
    60_000,
  );
});
