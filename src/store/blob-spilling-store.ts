import { isDomicileError } from '../errors/domicile-error.js';
import { KeyedLock } from '../shared/keyed-lock.js';
import { BlobFiles, type BlobReference, blobReference, type RecordName, readBlobReference } from './blob-files.js';
import { withResidue } from './placement-residue.js';
import type {
  AuditAppend,
  AuditRow,
  ChangeEntry,
  CheckpointRow,
  ConsentWrite,
  ImportedRecord,
  ImportResult,
  KeyUpgrade,
  PlacementStat,
  PurgeResult,
  RecordDelete,
  RecordImport,
  RecordPage,
  RecordRead,
  RecordWrite,
  RegionStore,
  StoredRecord,
  Tenancy,
  TenantExport,
  TenantState,
  WrappedKey,
  WriteResult,
} from './region-store.js';

export interface BlobSpillingStoreOptions {
  /** The region's blobs folder. */
  dir: string;
  /** A sealed value of at least this many bytes rests in a file (default 64 KiB). */
  spillBytes?: number;
  /** fsync files before their rows commit (default true). */
  durable?: boolean;
}

const defaultSpillBytes = 64 * 1024;

/** A record's name as one string, cheap enough for every write to look up. */
function recordKey(n: RecordName): string {
  return `${n.userId}\u0000${n.service}\u0000${n.collection}\u0000${n.key}`;
}

/**
 * A RegionStore whose large values rest in files on disk (blob-files.ts), the region's blob
 * store: photo chunks, big backups. Everything else passes through to the database store it
 * wraps, which holds a 41-byte reference in the value's place; readers get the sealed value
 * back whichever place it rests in, so region nodes, migrations and DSAR exports do not know
 * the difference, and a migration moves a photo's files with its records.
 *
 * The row is the truth; a file no row refers to is garbage. A file is written (and synced)
 * before the row that refers to it commits, so a committed row never refers to a file that is
 * not there, and a file is removed only under its record's lock after reading what the
 * committed row refers to now. Garbage goes after the write or delete that left it, with an
 * erased user's, a purged service's or a shredded category's records, and at start-up after a
 * crash. Removing garbage is housekeeping: when it fails, the operation that committed still
 * answers success, and the next start-up sweeps what was left.
 *
 * The files are this process's: one node holds a SQLite store's lock. A PostgreSQL region's
 * node processes share its database, not a disk, so such a region keeps its values in the
 * database (TOASTed bytea) and is not wrapped.
 */
export class BlobSpillingStore implements RegionStore {
  readonly backend: RegionStore['backend'];
  private readonly files: BlobFiles;
  private readonly spillBytes: number;
  /** Records whose folders may hold files (by recordKey), so a small write to any other key touches no disk. */
  private readonly folders = new Map<string, RecordName>();
  /** Per record (by recordKey), so a prune never removes a file whose row is still being written. */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly inner: RegionStore,
    options: BlobSpillingStoreOptions,
  ) {
    this.backend = inner.backend;
    this.files = new BlobFiles(options.dir, options.durable ?? true);
    this.spillBytes = options.spillBytes ?? defaultSpillBytes;
  }

  async init(): Promise<void> {
    await this.inner.init();
    // After a crash: files of writes that never committed, and of rows since replaced or deleted.
    // Nothing else runs yet, so a folder without its address (cut short) can go.
    for await (const { dir, name } of this.files.recordFolders()) {
      if (!name) {
        await this.files.removeFolder(dir);
        continue;
      }
      this.folders.set(recordKey(name), name);
      await this.settle(name);
    }
    await this.files.removeEmptyFolders(this.files.dir);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // ---- reads: a reference is replaced by the file it names ----

  async getRecord(userId: string, service: string, collection: string, key: string): Promise<StoredRecord | undefined> {
    return this.resolve(await this.inner.getRecord(userId, service, collection, key), () =>
      this.inner.getRecord(userId, service, collection, key),
    );
  }

  async readRecord(read: RecordRead): Promise<StoredRecord | undefined> {
    return this.resolve(await this.inner.readRecord(read), () => this.inner.readRecord(read));
  }

  async listRecords(userId: string, service: string, collection?: string, page?: RecordPage): Promise<StoredRecord[]> {
    return this.resolveAll(await this.inner.listRecords(userId, service, collection, page));
  }

  async exportTenants(service: string, userIds: readonly string[]): Promise<TenantExport[]> {
    const tenants = await this.inner.exportTenants(service, userIds);
    return Promise.all(tenants.map(async (t) => ({ ...t, records: await this.resolveAll(t.records) })));
  }

  async recordsOfCollection(collection: string): Promise<StoredRecord[]> {
    return this.resolveAll(await this.inner.recordsOfCollection(collection));
  }

  // ---- writes ----

  async writeRecord(write: RecordWrite): Promise<WriteResult> {
    if (write.ciphertext.length < this.spillBytes) {
      const result = await this.inner.writeRecord(write);
      await this.tidy(() => this.settleIfFiled(write));
      return result;
    }
    return this.locked([write], async () => {
      let ref: BlobReference;
      let result: WriteResult;
      try {
        ref = await this.spill(write, write.ciphertext);
        result = await this.inner.writeRecord({ ...write, ciphertext: blobReference(ref) });
      } catch (err) {
        await this.tidy(() => this.prune(write));
        throw err;
      }
      await this.tidy(() => this.files.prune(write, ref.sha256));
      return result;
    });
  }

  async deleteRecord(del: RecordDelete): Promise<WriteResult | undefined> {
    const result = await this.inner.deleteRecord(del);
    await this.tidy(() => this.settleIfFiled(del));
    return result;
  }

  async importRecords(imports: readonly RecordImport[]): Promise<ImportResult> {
    // Only records that spill now or had files take part: a migration's many small records touch no disk.
    const filed = imports.flatMap((i) =>
      [...i.puts, ...i.deletes]
        .map((r) => ({
          userId: i.userId,
          service: i.service,
          collection: r.collection,
          key: r.key,
          spills: 'ciphertext' in r && (r.ciphertext as Buffer).length >= this.spillBytes,
        }))
        .filter((r) => r.spills || this.folders.has(recordKey(r))),
    );
    return this.locked(filed, async () => {
      let result: ImportResult;
      try {
        const spilled = await Promise.all(imports.map(async (i) => ({ ...i, puts: await this.spillAll(i) })));
        result = await this.inner.importRecords(spilled);
      } finally {
        // Committed or refused, each record's folder keeps only what its row now refers to.
        for (const name of filed) await this.tidy(() => this.prune(name));
      }
      // Only once the shred committed: a refused import leaves the category's rows, and so its files.
      for (const i of imports) {
        for (const collection of i.shred ?? []) await this.forget({ userId: i.userId, service: i.service, collection });
      }
      return result;
    });
  }

  async unsealedRecords(limit: number): Promise<StoredRecord[]> {
    return this.resolveAll(await this.inner.unsealedRecords(limit));
  }

  /**
   * The records' values rest in files under their new names (keyIds) where they spill; the old
   * names' folders (named after the client's keys, whose address files hold them) go once the
   * rows moved.
   */
  async upgradeKeys(upgrade: KeyUpgrade): Promise<void> {
    const renamed = upgrade.records.map((r) => ({
      from: { userId: r.userId, service: r.service, collection: r.collection, key: r.oldKey },
      to: { userId: r.userId, service: r.service, collection: r.collection, key: r.key },
    }));
    const names = renamed.flatMap((r) => [r.from, r.to]);
    await this.locked(names, async () => {
      try {
        const records = await Promise.all(
          upgrade.records.map(async (r, i) =>
            r.ciphertext.length < this.spillBytes
              ? r
              : { ...r, ciphertext: blobReference(await this.spill(renamed[i]!.to, r.ciphertext)) },
          ),
        );
        await this.inner.upgradeKeys({ ...upgrade, records });
      } finally {
        for (const name of names) if (this.folders.has(recordKey(name))) await this.tidy(() => this.prune(name));
      }
    });
  }

  async purgeUser(userId: string, service?: string): Promise<number> {
    const n = await this.inner.purgeUser(userId, service);
    await this.forget({ userId, service });
    return n;
  }

  async purgeTenants(service: string, userIds: readonly string[], audit?: AuditAppend): Promise<PurgeResult> {
    const result = await this.inner.purgeTenants(service, userIds, audit);
    for (const userId of userIds) await this.forget({ userId, service });
    return result;
  }

  async decideConsent(write: ConsentWrite): Promise<WriteResult> {
    // The ledger record is small; a shredded category's files go with its rows and key.
    const result = await this.inner.decideConsent(write);
    for (const collection of write.shred)
      await this.forget({ userId: write.userId, service: write.service, collection });
    return result;
  }

  async eraseUser(userId: string, audit: AuditAppend): Promise<{ records: number; keys: number; tenancies: number }> {
    const result = await this.inner.eraseUser(userId, audit);
    await this.forget({ userId });
    return result;
  }

  /**
   * The database's counts, with a spilled value's bytes counted at its file's size rather than
   * its reference's: read from the references (which carry the size), never from the disk. A
   * record folder whose row is gone, of a user's service with no tenancy here and no row the
   * database counted, is residue too (its address.json names the user and the key): a purge
   * whose housekeeping failed leaves one until the next start-up prunes it.
   */
  async placementStats(): Promise<PlacementStat[]> {
    const stats = await this.inner.placementStats();
    const tenancies = new Map((await this.inner.listTenancies()).map((t) => [`${t.userId}\u0000${t.service}`, t]));
    const orphans = new Map<string, { userId: string; service: string }>();
    for (const name of [...this.folders.values()]) {
      const id = `${name.userId}\u0000${name.service}`;
      const row = await this.inner.getRecord(name.userId, name.service, name.collection, name.key);
      if (!row && !tenancies.has(id)) orphans.set(id, { userId: name.userId, service: name.service });
      const ref = row && readBlobReference(row.ciphertext);
      const market = ref && tenancies.get(id)?.market;
      const stat = market && stats.find((s) => s.market === market && s.service === name.service);
      if (ref && stat) stat.bytes += ref.size - row.ciphertext.length;
    }
    const residue: Array<{ market: string; service: string; residue: number }> = [];
    for (const { userId, service } of orphans.values()) {
      // Counted by the database already (its change log or records name the user): not twice.
      if (
        (await this.inner.countChanges(userId, service)) > 0 ||
        (await this.inner.listRecords(userId, service)).length > 0
      )
        continue;
      residue.push({ market: '', service, residue: 1 });
    }
    return withResidue(stats, residue);
  }

  // ---- passed through ----

  getTenancy(userId: string, service: string): Promise<Tenancy | undefined> {
    return this.inner.getTenancy(userId, service);
  }
  putTenancy(tenancy: Tenancy): Promise<void> {
    return this.inner.putTenancy(tenancy);
  }
  listTenancies(service?: string): Promise<Tenancy[]> {
    return this.inner.listTenancies(service);
  }
  countUnsealedKeys(): Promise<number> {
    return this.inner.countUnsealedKeys();
  }
  unsealedChanges(limit: number): Promise<ChangeEntry[]> {
    return this.inner.unsealedChanges(limit);
  }
  getKey(userId: string, scope: string): Promise<WrappedKey | undefined> {
    return this.inner.getKey(userId, scope);
  }
  getKeys(refs: ReadonlyArray<{ userId: string; scope: string }>): Promise<WrappedKey[]> {
    return this.inner.getKeys(refs);
  }
  putKeysIfAbsent(keys: readonly WrappedKey[]): Promise<WrappedKey[]> {
    return this.inner.putKeysIfAbsent(keys);
  }
  deleteKeys(userId: string, scopePrefix?: string): Promise<number> {
    return this.inner.deleteKeys(userId, scopePrefix);
  }
  advanceTenancies(tenancies: readonly Tenancy[]): Promise<void> {
    return this.inner.advanceTenancies(tenancies);
  }
  appendAudit(append: AuditAppend): Promise<void> {
    return this.inner.appendAudit(append);
  }
  isErased(userId: string): Promise<boolean> {
    return this.inner.isErased(userId);
  }
  tenantsOf(service: string, userIds: readonly string[]): Promise<TenantState[]> {
    return this.inner.tenantsOf(service, userIds);
  }
  auditPage(
    afterSeq: number,
    limit: number,
  ): Promise<{ entries: AuditRow[]; checkpoints: CheckpointRow[]; size: number }> {
    return this.inner.auditPage(afterSeq, limit);
  }
  auditSeqOfEvent(eventId: string): Promise<number | undefined> {
    return this.inner.auditSeqOfEvent(eventId);
  }
  lastAuditOfType(type: string): Promise<AuditRow | undefined> {
    return this.inner.lastAuditOfType(type);
  }
  changesSince(afterSeq: number, limit: number, service?: string, userId?: string): Promise<ChangeEntry[]> {
    return this.inner.changesSince(afterSeq, limit, service, userId);
  }
  lastSeq(): Promise<number> {
    return this.inner.lastSeq();
  }
  admitFence(migrationId: string, token: number): Promise<number> {
    return this.inner.admitFence(migrationId, token);
  }
  countChanges(userId: string, service: string): Promise<number> {
    return this.inner.countChanges(userId, service);
  }

  // ---- the files ----

  private async spill(name: RecordName, sealed: Buffer): Promise<BlobReference> {
    this.folders.set(recordKey(name), {
      userId: name.userId,
      service: name.service,
      collection: name.collection,
      key: name.key,
    });
    return this.files.write(name, sealed);
  }

  /** An import's puts, each large one written as a file; every write has ended when this returns or throws. */
  private async spillAll(i: RecordImport): Promise<ImportedRecord[]> {
    const settled = await Promise.allSettled(
      i.puts.map(async (p) => {
        if (p.ciphertext.length < this.spillBytes) return p;
        const ref = await this.spill(
          { userId: i.userId, service: i.service, collection: p.collection, key: p.key },
          p.ciphertext,
        );
        return { ...p, ciphertext: blobReference(ref) };
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<ImportedRecord>).value);
  }

  /**
   * The stored value a row's reference names. A file found missing or changed is looked at
   * again through `reread` (the same read as the first): a write or delete that committed
   * meanwhile may have pruned it, and then what the row says now is the answer.
   */
  private async resolve(
    record: StoredRecord | undefined,
    reread: () => Promise<StoredRecord | undefined>,
  ): Promise<StoredRecord | undefined> {
    const ref = record && readBlobReference(record.ciphertext);
    if (!record || !ref) return record;
    try {
      return { ...record, ciphertext: await this.files.read(record, ref) };
    } catch (err) {
      if (!isDomicileError(err, 'INTEGRITY')) throw err;
      const again = await reread();
      // The same reference still committed: the file is truly missing or changed.
      if (again?.ciphertext.equals(record.ciphertext)) throw err;
      const now = again && readBlobReference(again.ciphertext);
      return again && now ? { ...again, ciphertext: await this.files.read(again, now) } : again;
    }
  }

  private async resolveAll(records: StoredRecord[]): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    for (const r of records) {
      const resolved = await this.resolve(r, () => this.inner.getRecord(r.userId, r.service, r.collection, r.key));
      if (resolved) out.push(resolved);
    }
    return out;
  }

  /** Housekeeping after a commit: its failure leaves garbage for the start-up sweep, never a failed operation. */
  private async tidy(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch {
      // The files left are garbage no row refers to; the next start-up removes them.
    }
  }

  /** After a small write or a delete: if the key had files, drop those its row no longer refers to. */
  private async settleIfFiled(name: RecordName): Promise<void> {
    if (this.folders.has(recordKey(name))) await this.settle(name);
  }

  private async settle(name: RecordName): Promise<void> {
    await this.locked([name], () => this.prune(name));
  }

  /** Keeps only the file the committed row refers to (held under the record's lock). */
  private async prune(name: RecordName): Promise<void> {
    const row = await this.inner.getRecord(name.userId, name.service, name.collection, name.key);
    const ref = row && readBlobReference(row.ciphertext);
    await this.files.prune(name, ref?.sha256);
    if (!ref) this.folders.delete(recordKey(name));
  }

  /**
   * After an erasure, a purge or a shred committed: every record of the user (of the service,
   * of the category) that had files is pruned under its lock (a write in flight there finishes
   * first and keeps its file if its row committed), then the folders left empty go.
   */
  private async forget(scope: { userId: string; service?: string | undefined; collection?: string }): Promise<void> {
    const { userId, service, collection } = scope;
    await this.tidy(async () => {
      const under = [...this.folders.values()].filter(
        (n) =>
          n.userId === userId &&
          (service === undefined || n.service === service) &&
          (collection === undefined || n.collection === collection),
      );
      for (const name of under) await this.settle(name);
      await this.files.removeEmptyFolders(
        service === undefined
          ? this.files.userDir(userId)
          : collection === undefined
            ? this.files.serviceDir(userId, service)
            : this.files.collectionDir(userId, service, collection),
      );
    });
  }

  /** Runs fn holding the locks of the named records (queued for all of them at once: see KeyedLock). */
  private locked<T>(names: readonly RecordName[], fn: () => Promise<T>): Promise<T> {
    return this.locks.run(names.map(recordKey), fn);
  }
}
