import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { regionStoreMigrations } from '../../src/store/sqlite/schema-migrations.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';
import { describeRegionStoreConformance } from './region-store-conformance.js';

const root = mkdtempSync(join(tmpdir(), 'domicile-sqlite-store-'));
let counter = 0;
const nextPath = (): string => join(root, `store-${++counter}`, 'store.db');

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describeRegionStoreConformance(
  'sqlite (file, durability full)',
  async () => new SqliteRegionStore({ path: nextPath() }),
);
describeRegionStoreConformance(
  'sqlite (file, durability normal)',
  async () => new SqliteRegionStore({ path: nextPath(), durability: 'normal' }),
);

describe('SqliteRegionStore specifics', () => {
  it('commits the writes asked for at once together, each with its own checks, in the order asked', async () => {
    const store = new SqliteRegionStore({ path: nextPath() });
    await store.init();
    await store.putTenancy({ userId: 'u1', service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    const w = { userId: 'u1', service: 'shop', collection: 'orders', epoch: 1 };
    const outcomes = await Promise.allSettled([
      store.writeRecord({ ...w, key: 'a', ciphertext: Buffer.from('1'), ifVersion: 0 }),
      // Sees the write before it, though neither has committed when it is asked for.
      store.writeRecord({ ...w, key: 'a', ciphertext: Buffer.from('2'), ifVersion: 1 }),
      store.writeRecord({ ...w, key: 'b', ciphertext: Buffer.from('x'), ifVersion: 5 }),
      store.writeRecord({ ...w, key: 'c', ciphertext: Buffer.from('3') }),
      store.writeRecord({ ...w, key: 'd', epoch: 9, ciphertext: Buffer.from('4') }),
      store.deleteRecord({ ...w, key: 'c' }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT' });
    expect((outcomes[4] as PromiseRejectedResult).reason).toMatchObject({ code: 'STALE_EPOCH' });
    expect(await store.getRecord('u1', 'shop', 'orders', 'a')).toMatchObject({
      version: 2,
      ciphertext: Buffer.from('2'),
    });
    expect(await store.getRecord('u1', 'shop', 'orders', 'b')).toBeUndefined();
    expect(await store.getRecord('u1', 'shop', 'orders', 'c')).toBeUndefined();
    expect((await store.changesSince(0, 10)).map((c) => `${c.op} ${c.key} v${c.version}`)).toEqual([
      'put a v1',
      'put a v2',
      'put c v1',
      'delete c v1',
    ]);
    // Asked for and not yet committed when the store closes: committed first.
    const late = store.writeRecord({ ...w, key: 'e', ciphertext: Buffer.from('5') });
    await store.close();
    await expect(late).resolves.toMatchObject({ version: 1 });
  });

  it('runs in WAL mode with the chosen synchronous level and a busy timeout', async () => {
    for (const [durability, level] of [
      ['full', 2],
      ['normal', 1],
    ] as const) {
      const path = nextPath();
      const store = new SqliteRegionStore({ path, durability, busyTimeoutMs: 1234 });
      await store.init();
      const db = (store as unknown as { db: Database.Database }).db;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(level);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(1234);
      await store.close();
    }
  });

  it('records its migrations in a ledger and keeps data across reopening', async () => {
    const path = nextPath();
    const first = new SqliteRegionStore({ path });
    await first.init();
    await first.putTenancy({ userId: 'u1', service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    const written = await first.writeRecord({
      userId: 'u1',
      service: 'shop',
      collection: 'orders',
      key: 'o1',
      epoch: 1,
      ciphertext: Buffer.from('c'),
    });
    await first.close();

    const db = new Database(path, { readonly: true });
    const ledger = db.prepare('SELECT id, name FROM schema_migrations ORDER BY id').all();
    db.close();
    expect(ledger).toEqual(regionStoreMigrations.map((m) => ({ id: m.id, name: m.name })));

    const second = new SqliteRegionStore({ path });
    await second.init();
    expect((await second.getRecord('u1', 'shop', 'orders', 'o1'))?.version).toBe(1);
    expect(await second.lastSeq()).toBe(written.seq);
    const next = await second.writeRecord({
      userId: 'u1',
      service: 'shop',
      collection: 'orders',
      key: 'o2',
      epoch: 1,
      ciphertext: Buffer.from('d'),
    });
    expect(next.seq).toBeGreaterThan(written.seq);
    await second.close();
  });

  it('refuses a file written by a newer schema, and use before init or after close', async () => {
    const path = nextPath();
    const store = new SqliteRegionStore({ path });
    await expect(store.lastSeq()).rejects.toThrow(/before init/);
    await store.init();
    await store.close();
    await expect(store.lastSeq()).rejects.toMatchObject({ code: 'UNAVAILABLE' });

    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(
      999,
      'from the future',
      Date.now(),
    );
    db.close();
    const newer = new SqliteRegionStore({ path });
    await expect(newer.init()).rejects.toThrow(/migration 999 \("from the future"\).*newer version/);
    await newer.close();
  });

  it("refuses a file whose applied schema migration differs from this version's, naming it", async () => {
    const path = nextPath();
    const store = new SqliteRegionStore({ path });
    await store.init();
    await store.close();
    const db = new Database(path);
    db.prepare('UPDATE schema_migrations SET sha256 = ? WHERE id = 3').run('0'.repeat(64));
    db.close();
    const edited = new SqliteRegionStore({ path });
    await expect(edited.init()).rejects.toThrow(/schema migration 3 \("erased users"\).*edited.*new migration/);
    await edited.close();
  });

  it('opens a file whose ledger predates checksums, recording them', async () => {
    const path = nextPath();
    const first = new SqliteRegionStore({ path });
    await first.init();
    await first.putTenancy({ userId: 'u1', service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    await first.close();
    // The ledger as the versions before checksums wrote it.
    let db = new Database(path);
    db.exec('ALTER TABLE schema_migrations DROP COLUMN sha256');
    db.close();
    const second = new SqliteRegionStore({ path });
    await second.init();
    expect(await second.getTenancy('u1', 'shop')).toMatchObject({ status: 'home' });
    await second.close();
    db = new Database(path, { readonly: true });
    const sums = db.prepare<[], string | null>('SELECT sha256 FROM schema_migrations ORDER BY id').pluck().all();
    db.close();
    expect(sums).toHaveLength(regionStoreMigrations.length);
    expect(sums.every((s) => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s))).toBe(true);
  });

  it('never reuses a sequence number, even after the newest change is gone', async () => {
    const path = nextPath();
    const store = new SqliteRegionStore({ path });
    await store.init();
    await store.putTenancy({ userId: 'u1', service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    const a = await store.writeRecord({
      userId: 'u1',
      service: 'shop',
      collection: 'orders',
      key: 'o1',
      epoch: 1,
      ciphertext: Buffer.from('c'),
    });
    await store.close();
    const db = new Database(path);
    db.prepare('DELETE FROM changes WHERE seq = ?').run(a.seq);
    db.close();
    const reopened = new SqliteRegionStore({ path });
    await reopened.init();
    const b = await reopened.writeRecord({
      userId: 'u1',
      service: 'shop',
      collection: 'orders',
      key: 'o1',
      epoch: 1,
      ciphertext: Buffer.from('d'),
    });
    expect(b.seq).toBeGreaterThan(a.seq);
    await reopened.close();
  });

  it('scrubs purged keys and records from the database file and its write-ahead log', async () => {
    const path = nextPath();
    const store = new SqliteRegionStore({ path });
    await store.init();
    const wrapped = Buffer.from('WRAPPED-USER-KEY-1b7e44-d0c9a2');
    const categoryKey = Buffer.from('WRAPPED-CATEGORY-KEY-5f10e8-77aa03');
    const sealed = Buffer.from('SEALED-RECORD-BYTES-91c3de-4e5f60');
    await store.putTenancy({ userId: 'u1', service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    await store.putKeysIfAbsent([{ userId: 'u1', scope: '', wrapped, wrappedBy: 'kek', createdAt: 1 }]);
    await store.putKeysIfAbsent([
      { userId: 'u1', scope: 'shop/orders', wrapped: categoryKey, wrappedBy: 'user-key', createdAt: 1 },
    ]);
    for (let i = 0; i < 3; i++)
      await store.writeRecord({
        userId: 'u1',
        service: 'shop',
        collection: 'orders',
        key: `o${i}`,
        epoch: 1,
        ciphertext: sealed,
      });
    // other data on the same pages, which must survive the scrub
    await store.putTenancy({ userId: 'u2', service: 'shop', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    await store.writeRecord({
      userId: 'u2',
      service: 'shop',
      collection: 'orders',
      key: 'o1',
      epoch: 1,
      ciphertext: Buffer.from('kept'),
    });

    const holding = (needle: Buffer): string[] =>
      readdirSync(dirname(path)).filter((f) => readFileSync(join(dirname(path), f)).includes(needle));
    // the scan can find them before the purge
    for (const needle of [wrapped, categoryKey, sealed]) expect(holding(needle).length).toBeGreaterThan(0);

    await store.putTenancy({
      userId: 'u1',
      service: 'shop',
      market: 'SG',
      epoch: 2,
      status: 'moved',
      movedTo: 'in-mumbai',
    });
    expect(await store.purgeTenants('shop', ['u1'])).toEqual({ records: 3, keys: 2, changes: 3, tenancies: 1 });
    for (const needle of [wrapped, categoryKey, sealed]) expect(holding(needle), needle.toString()).toEqual([]);
    expect((await store.getRecord('u2', 'shop', 'orders', 'o1'))?.ciphertext.toString()).toBe('kept');
    await store.close();
    for (const needle of [wrapped, categoryKey, sealed]) expect(holding(needle), needle.toString()).toEqual([]);
  });
  it("scrubs a moved user's id and record keys from the files: change log and tenancy rows too", async () => {
    const path = nextPath();
    const store = new SqliteRegionStore({ path, exclusive: true });
    await store.init();
    const userId = 'u-residue-3f9a1c77';
    const recordKey = 'contact-6591234567-canary';
    await store.putTenancy({ userId, service: 'cloud', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    await store.putTenancy({ userId: 'u2', service: 'cloud', market: 'SG', epoch: 1, status: 'home', movedTo: null });
    for (let i = 0; i < 3; i++)
      await store.writeRecord({
        userId,
        service: 'cloud',
        collection: 'contacts',
        key: recordKey,
        epoch: 1,
        ciphertext: Buffer.from(`v${i}`),
      });
    await store.deleteRecord({ userId, service: 'cloud', collection: 'contacts', key: recordKey, epoch: 1 });
    await store.writeRecord({
      userId,
      service: 'cloud',
      collection: 'contacts',
      key: `${recordKey}-2`,
      epoch: 1,
      ciphertext: Buffer.from('w'),
    });
    await store.writeRecord({
      userId: 'u2',
      service: 'cloud',
      collection: 'contacts',
      key: 'kept-key',
      epoch: 1,
      ciphertext: Buffer.from('kept'),
    });
    const needles = [Buffer.from(userId), Buffer.from(recordKey)];
    const holding = (needle: Buffer): string[] =>
      readdirSync(dirname(path)).filter((f) => readFileSync(join(dirname(path), f)).includes(needle));
    for (const needle of needles) expect(holding(needle).length, needle.toString()).toBeGreaterThan(0);

    await store.putTenancy({ userId, service: 'cloud', market: 'SG', epoch: 2, status: 'moved', movedTo: 'us-oregon' });
    expect(await store.purgeTenants('cloud', [userId])).toEqual({ records: 1, keys: 0, changes: 5, tenancies: 1 });
    for (const needle of needles) expect(holding(needle), needle.toString()).toEqual([]);
    expect(holding(Buffer.from('kept-key')).length).toBeGreaterThan(0);
    await store.close();
    for (const needle of needles) expect(holding(needle), needle.toString()).toEqual([]);
  });
});
