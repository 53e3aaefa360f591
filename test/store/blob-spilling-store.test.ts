import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DomicileError } from '../../src/errors/domicile-error.js';
import { readBlobReference } from '../../src/store/blob-files.js';
import { BlobSpillingStore } from '../../src/store/blob-spilling-store.js';
import type { AuditAppend } from '../../src/store/region-store.js';
import { SqliteRegionStore } from '../../src/store/sqlite/sqlite-region-store.js';
import { listFiles } from '../support/file-scan.js';
import { tempDir } from '../support/temp-dir.js';
import { describeRegionStoreConformance } from './region-store-conformance.js';

const root = tempDir('blob-store');
let counter = 0;
const nextDir = (): string => join(root.path, `store-${++counter}`);

afterAll(() => root.remove());

function open(dir: string, spillBytes = 1024): { store: BlobSpillingStore; inner: SqliteRegionStore; blobs: string } {
  const inner = new SqliteRegionStore({ path: join(dir, 'store.db') });
  const blobs = join(dir, 'store.db-blobs');
  return { store: new BlobSpillingStore(inner, { dir: blobs, spillBytes }), inner, blobs };
}

/** A store opened in a fresh folder, with user u1's cloud home in it. */
async function openWithHome(): Promise<ReturnType<typeof open>> {
  const opened = open(nextDir());
  await opened.store.init();
  await opened.store.putTenancy({ userId: 'u1', ...home });
  return opened;
}

// Every value in a file: the whole contract holds whichever place a value rests in.
describeRegionStoreConformance('sqlite with every value in a blob file', async () => open(nextDir(), 1).store);

/** Every file under a folder (none when start-up removed the folder itself), with its bytes. */
function filesUnder(dir: string): Array<{ path: string; bytes: Buffer }> {
  return existsSync(dir) ? listFiles(dir).map((path) => ({ path, bytes: readFileSync(path) })) : [];
}

const blobFiles = (dir: string): Array<{ path: string; bytes: Buffer }> =>
  filesUnder(dir).filter((f) => !f.path.endsWith('address.json'));

const home = { service: 'cloud', market: 'SG', epoch: 1, status: 'home' as const, movedTo: null };
const audit = (seq: number): AuditAppend => ({
  entries: [{ seq, eventId: null, type: 'test', entry: Buffer.from(`entry ${seq}`), leafHash: Buffer.alloc(32, seq) }],
  checkpoint: { size: seq, root: Buffer.alloc(32, 7), at: seq, signature: Buffer.alloc(64, 9) },
});
const big = (fill: number, n = 4096): Buffer => Buffer.alloc(n, fill);

describe('BlobSpillingStore: large values as files', () => {
  it('keeps a large value in a file and a reference in the database, and a small one in the database', async () => {
    const { store, inner, blobs } = await openWithHome();
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(7),
    });
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'm1',
      epoch: 1,
      ciphertext: Buffer.from('small'),
    });

    const files = blobFiles(blobs);
    expect(files).toHaveLength(1);
    expect(files[0]!.bytes.equals(big(7))).toBe(true);
    const row = await inner.getRecord('u1', 'cloud', 'photos', 'p1');
    expect(readBlobReference(row!.ciphertext)).toEqual({ sha256: files[0]!.path.split('/').pop(), size: 4096 });
    expect((await inner.getRecord('u1', 'cloud', 'photos', 'm1'))!.ciphertext.toString()).toBe('small');
    // Beside it, the record's name and nothing else (the sweep at start-up reads it).
    const address = filesUnder(blobs).find((f) => f.path.endsWith('address.json'));
    expect(JSON.parse(address!.bytes.toString())).toEqual({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
    });

    expect((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.ciphertext.equals(big(7))).toBe(true);
    expect(
      (await store.readRecord({
        userId: 'u1',
        service: 'cloud',
        collection: 'photos',
        key: 'p1',
        epoch: 1,
      }))!.ciphertext.equals(big(7)),
    ).toBe(true);
    expect((await store.listRecords('u1', 'cloud')).map((r) => r.ciphertext.length)).toEqual([5, 4096]);
    await store.close();
  });

  it('leaves one file per record after overwrites, and none after a delete or an overwrite by a small value', async () => {
    const { store, blobs } = await openWithHome();
    const w = { userId: 'u1', service: 'cloud', collection: 'photos', key: 'p1', epoch: 1 };
    await store.writeRecord({ ...w, ciphertext: big(1) });
    await store.writeRecord({ ...w, ciphertext: big(2) });
    await Promise.all([3, 4, 5].map((n) => store.writeRecord({ ...w, ciphertext: big(n) })));
    const files = blobFiles(blobs);
    expect(files).toHaveLength(1);
    expect(files[0]!.bytes.equals((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.ciphertext)).toBe(true);

    await store.writeRecord({ ...w, ciphertext: Buffer.from('tiny') });
    expect(blobFiles(blobs)).toHaveLength(0);
    await store.writeRecord({ ...w, ciphertext: big(6) });
    expect(blobFiles(blobs)).toHaveLength(1);
    await store.deleteRecord(w);
    expect(filesUnder(blobs)).toHaveLength(0);
    await store.close();
  });

  it('removes the file of a write the database refused', async () => {
    const { store, blobs } = await openWithHome();
    const w = { userId: 'u1', service: 'cloud', collection: 'photos', key: 'p1', epoch: 1 };
    await store.writeRecord({ ...w, ciphertext: big(1) });
    await expect(store.writeRecord({ ...w, ciphertext: big(2), ifVersion: 7 })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(store.writeRecord({ ...w, epoch: 9, ciphertext: big(3) })).rejects.toBeInstanceOf(DomicileError);
    const files = blobFiles(blobs);
    expect(files.map((f) => f.bytes[0])).toEqual([1]);
    await store.close();
  });

  it('answers INTEGRITY for a file changed or removed on disk', async () => {
    const { store, blobs } = await openWithHome();
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(1),
    });
    const [file] = blobFiles(blobs);
    const changed = Buffer.from(file!.bytes);
    changed[100] = changed[100]! ^ 1;
    writeFileSync(file!.path, changed);
    await expect(store.getRecord('u1', 'cloud', 'photos', 'p1')).rejects.toMatchObject({ code: 'INTEGRITY' });
    rmSync(file!.path);
    await expect(store.listRecords('u1', 'cloud')).rejects.toMatchObject({
      code: 'INTEGRITY',
      message: expect.stringMatching(/missing/),
    });
    await store.close();
  });

  it('removes the folder of an erased user, a purged service and a shredded category', async () => {
    const { store, blobs } = open(nextDir());
    await store.init();
    for (const userId of ['u1', 'u2', 'u3']) {
      await store.putTenancy({ userId, ...home });
      for (const collection of ['photos', 'contacts'])
        await store.writeRecord({ userId, service: 'cloud', collection, key: 'k', epoch: 1, ciphertext: big(1) });
    }
    expect(blobFiles(blobs)).toHaveLength(6);

    await store.decideConsent({
      userId: 'u1',
      service: 'cloud',
      epoch: 1,
      collection: '_consent',
      key: 'cloud-backup',
      ciphertext: Buffer.from('x'),
      ifVersion: 0,
      shred: ['photos'],
      audit: audit(1),
    });
    expect(blobFiles(blobs)).toHaveLength(5);
    expect((await store.getRecord('u1', 'cloud', 'contacts', 'k'))!.ciphertext.equals(big(1))).toBe(true);

    await store.eraseUser('u2', audit(2));
    expect(blobFiles(blobs)).toHaveLength(3);

    await store.advanceTenancies([{ userId: 'u3', ...home, epoch: 2, status: 'moved', movedTo: 'in-mumbai' }]);
    await store.purgeTenants('cloud', ['u3']);
    const left = blobFiles(blobs);
    expect(left).toHaveLength(1);
    expect((await store.getRecord('u1', 'cloud', 'contacts', 'k'))!.ciphertext.equals(left[0]!.bytes)).toBe(true);
    await store.close();
  });

  it('imports large values as files, and a re-import of the same bytes changes nothing', async () => {
    const { store, blobs } = open(nextDir());
    await store.init();
    const puts = [
      { collection: 'photos', key: 'p1', version: 3, ciphertext: big(9), updatedAt: 5 },
      { collection: 'photos', key: 'm', version: 1, ciphertext: Buffer.from('s'), updatedAt: 5 },
    ];
    const first = await store.importRecords([
      { userId: 'u1', service: 'cloud', market: 'SG', epoch: 2, puts, deletes: [] },
    ]);
    expect(first.applied).toBe(2);
    const again = await store.importRecords([
      { userId: 'u1', service: 'cloud', market: 'SG', epoch: 2, puts, deletes: [] },
    ]);
    expect(again.applied).toBe(0);
    expect(blobFiles(blobs)).toHaveLength(1);
    expect((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.version).toBe(3);
    await store.importRecords([
      {
        userId: 'u1',
        service: 'cloud',
        market: 'SG',
        epoch: 2,
        puts: [],
        deletes: [{ collection: 'photos', key: 'p1' }],
      },
    ]);
    expect(blobFiles(blobs)).toHaveLength(0);
    await store.close();
  });

  it("keeps a category's files when the import that would shred it is refused", async () => {
    const { store, blobs } = await openWithHome();
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(1),
    });
    // A live home is never imported into: the whole import is refused, its shred with it.
    await expect(
      store.importRecords([
        { userId: 'u1', service: 'cloud', market: 'SG', epoch: 1, puts: [], deletes: [], shred: ['photos'] },
      ]),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(blobFiles(blobs)).toHaveLength(1);
    expect((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.ciphertext.equals(big(1))).toBe(true);
    await store.close();
  });

  it('at start-up removes files that no row refers to (a crash between a file and its row)', async () => {
    const dir = nextDir();
    const first = open(dir);
    await first.store.init();
    await first.store.putTenancy({ userId: 'u1', ...home });
    await first.store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(1),
    });
    await first.store.close();
    // As a crash would leave them: a second file in a record's folder, a half-written temp file, and a folder whose row never committed.
    const [kept] = blobFiles(first.blobs);
    const folder = kept!.path.slice(0, kept!.path.lastIndexOf('/'));
    writeFileSync(join(folder, 'f'.repeat(64)), big(2));
    writeFileSync(join(folder, `${'e'.repeat(64)}.abc.tmp`), big(3));
    const orphan = open(dir);
    await orphan.store.init();
    await orphan.store.putTenancy({ userId: 'u1', ...home });
    await orphan.store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p2',
      epoch: 1,
      ciphertext: big(4),
    });
    await orphan.inner.purgeUser('u1', 'cloud'); // the rows go, the files stay: as if the process died between the two
    await orphan.store.close();

    const reopened = open(dir);
    await reopened.store.init();
    expect(filesUnder(reopened.blobs)).toHaveLength(0);
    await reopened.store.close();

    const again = open(dir);
    await again.store.init();
    await again.store.putTenancy({ userId: 'u2', ...home });
    await again.store.writeRecord({
      userId: 'u2',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(5),
    });
    await again.store.close();
    const last = open(dir);
    await last.store.init();
    expect(blobFiles(last.blobs).map((f) => f.bytes[0])).toEqual([5]);
    expect((await last.store.getRecord('u2', 'cloud', 'photos', 'p1'))!.ciphertext.equals(big(5))).toBe(true);
    await last.store.close();
  });

  describe('races with what runs meanwhile', () => {
    /** Holds `files.write` of the store after it wrote its file, until released: a large write in flight. */
    function holdWrites(store: BlobSpillingStore): { written: Promise<void>; release: () => void } {
      const files = (store as unknown as { files: { write: (...a: unknown[]) => Promise<unknown> } }).files;
      const write = files.write.bind(files);
      let written!: () => void;
      let release!: () => void;
      const w = new Promise<void>((r) => (written = r));
      const go = new Promise<void>((r) => (release = r));
      files.write = async (...a: unknown[]) => {
        const ref = await write(...a);
        written();
        await go;
        return ref;
      };
      return { written: w, release };
    }
    const w = { userId: 'u1', service: 'cloud', collection: 'photos', key: 'p1', epoch: 1 };

    it('a residency report while a large write is in flight removes nothing', async () => {
      const { store, blobs } = await openWithHome();
      const hold = holdWrites(store);
      const writing = store.writeRecord({ ...w, ciphertext: big(1) });
      await hold.written;
      // As a folder looks between its making and its address: only start-up may take it for a crash's leftover.
      const address = filesUnder(blobs).find((f) => f.path.endsWith('address.json'))!.path;
      rmSync(address);
      await store.placementStats();
      hold.release();
      await writing;
      expect((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.ciphertext.equals(big(1))).toBe(true);
      writeFileSync(address, JSON.stringify({ userId: 'u1', service: 'cloud', collection: 'photos', key: 'p1' }));
      await store.close();
    });

    it('a consent shred while a large write is in flight keeps the file of the row that commits after it', async () => {
      const { store } = await openWithHome();
      const hold = holdWrites(store);
      const writing = store.writeRecord({ ...w, ciphertext: big(1) });
      await hold.written;
      const shred = store.decideConsent({
        userId: 'u1',
        service: 'cloud',
        epoch: 1,
        collection: '_consent',
        key: 'cloud-backup',
        ciphertext: Buffer.from('x'),
        ifVersion: 0,
        shred: ['photos'],
        audit: audit(1),
      });
      await new Promise((r) => setTimeout(r, 20));
      hold.release();
      await Promise.all([writing, shred]);
      expect((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.ciphertext.equals(big(1))).toBe(true);
      await store.close();
    });

    it('a read that loses its file to a delete or a new write answers what the row says now', async () => {
      const { store, inner } = await openWithHome();
      await store.writeRecord({ ...w, ciphertext: big(1) });
      const get = inner.getRecord.bind(inner);
      let meanwhile: (() => Promise<unknown>) | undefined;
      (inner as unknown as { getRecord: typeof inner.getRecord }).getRecord = async (...a) => {
        const row = await get(...a);
        const run = meanwhile;
        meanwhile = undefined;
        if (run) await run();
        return row;
      };
      meanwhile = () => store.deleteRecord(w);
      expect(await store.getRecord('u1', 'cloud', 'photos', 'p1')).toBeUndefined();
      await store.writeRecord({ ...w, ciphertext: big(2) });
      // Deleted and written again meanwhile: the same version number, another file.
      meanwhile = async () => {
        await store.deleteRecord(w);
        await store.writeRecord({ ...w, ciphertext: big(3) });
      };
      expect((await store.getRecord('u1', 'cloud', 'photos', 'p1'))!.ciphertext.equals(big(3))).toBe(true);
      await store.close();
    });
  });

  it("counts a spilled value's bytes at its file's size in the placement stats", async () => {
    const { store } = await openWithHome();
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(1),
    });
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'm',
      epoch: 1,
      ciphertext: Buffer.from('abc'),
    });
    expect(await store.placementStats()).toEqual([
      { market: 'SG', service: 'cloud', users: 1, records: 2, bytes: 4096 + 3, residue: 0 },
    ]);
    await store.close();
  });
});

describe('BlobSpillingStore: residue', () => {
  it('counts a record folder left without its row or tenancy as residue, until it is gone', async () => {
    const { store, inner } = await openWithHome();
    await store.writeRecord({
      userId: 'u1',
      service: 'cloud',
      collection: 'photos',
      key: 'p1',
      epoch: 1,
      ciphertext: big(1),
    });
    expect((await store.placementStats()).map((s) => s.residue)).toEqual([0]);
    // A purge whose housekeeping never ran: the database forgot u1's cloud, its folder did not.
    await inner.advanceTenancies([{ userId: 'u1', ...home, epoch: 2, status: 'moved', movedTo: 'in-mumbai' }]);
    await inner.purgeTenants('cloud', ['u1']);
    expect(await store.placementStats()).toEqual([
      { market: '', service: 'cloud', users: 0, records: 0, bytes: 0, residue: 1 },
    ]);
    // Purged through the store, the folder goes and nothing is left.
    await store.purgeTenants('cloud', ['u1']);
    expect(await store.placementStats()).toEqual([]);
    await store.close();
  });
});
