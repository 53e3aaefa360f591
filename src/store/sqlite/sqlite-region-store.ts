import type Database from 'better-sqlite3';
import { DomicileError } from '../../errors/domicile-error.js';
import { Batcher } from '../../shared/batcher.js';
import { withResidue } from '../placement-residue.js';
import type {
  AuditAppend,
  AuditRow,
  ChangeEntry,
  CheckpointRow,
  ConsentWrite,
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
  TenancyStatus,
  TenantExport,
  TenantState,
  WrappedKey,
  WriteResult,
} from '../region-store.js';
import { checkImportNames, checkVersion, erasedUser, liveTenancy, staleTenancy } from '../store-checks.js';
import { checkTenancy } from '../tenancy-guard.js';
import { openSqliteDatabase } from './open-sqlite-database.js';
import { regionStoreMigrations } from './schema-migrations.js';
import { checkpointScrubbed, withSecureDelete } from './secure-delete.js';
import { applyMigrations } from './sqlite-schema-ledger.js';

export interface SqliteRegionStoreOptions {
  /** The database file (its folder is created), or ':memory:' for tests. */
  path: string;
  /**
   * 'full' (default): synchronous=FULL, the WAL is synced on every commit, so an
   * acknowledged write survives power loss. 'normal': synchronous=NORMAL, synced only at
   * checkpoints, so an acknowledged write survives a crash of the process but the last ones
   * may be lost with the machine's power. Faster; for caches of data that lives elsewhere.
   */
  durability?: 'full' | 'normal';
  /** How long a write waits for another connection's lock before SQLITE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Hold the file's lock for as long as the store is open (locking_mode=EXCLUSIVE), so no other
   * process can open the region's data while its node runs, and reads skip the WAL's shared
   * memory (a point read falls from about 5 µs to 2.5 µs here). Default false; a region node
   * opens its store with true.
   */
  exclusive?: boolean;
}

interface TenancyRow {
  user_id: string;
  service: string;
  market: string;
  epoch: number;
  status: TenancyStatus;
  moved_to: string | null;
}
interface KeyRow {
  user_id: string;
  scope: string;
  wrapped: Buffer;
  wrapped_by: string;
  created_at: number;
}
interface RecordRow {
  user_id: string;
  service: string;
  collection: string;
  key: string;
  version: number;
  ciphertext: Buffer;
  updated_at: number;
  sealed_key: Buffer | null;
}
/** A tenancy joined with the record asked for (record columns null when it is absent). */
interface ReadRow {
  market: string;
  epoch: number;
  status: TenancyStatus;
  moved_to: string | null;
  version: number | null;
  ciphertext: Buffer | null;
  updated_at: number | null;
  sealed_key: Buffer | null;
}
interface ChangeRow {
  seq: number;
  user_id: string;
  service: string;
  collection: string;
  key: string;
  op: 'put' | 'delete';
  version: number;
  at: number;
  sealed_key: Buffer | null;
}
interface StatRow {
  market: string;
  service: string;
  users: number;
  records: number;
  bytes: number;
}
interface ResidueRow {
  market: string;
  service: string;
  moved_to: string | null;
  residue: number;
}
interface AuditDbRow {
  seq: number;
  event_id: string | null;
  type: string;
  entry: Buffer;
  leaf_hash: Buffer;
}

function toAudit(row: AuditDbRow): AuditRow {
  return { seq: row.seq, eventId: row.event_id, type: row.type, entry: row.entry, leafHash: row.leaf_hash };
}

function toChange(row: ChangeRow): ChangeEntry {
  return {
    seq: row.seq,
    userId: row.user_id,
    service: row.service,
    collection: row.collection,
    key: row.key,
    op: row.op,
    version: row.version,
    at: row.at,
    sealedKey: row.sealed_key,
  };
}

type RecordId = [userId: string, service: string, collection: string, key: string];

function toTenancy(row: TenancyRow | undefined): Tenancy | undefined {
  return (
    row && {
      userId: row.user_id,
      service: row.service,
      market: row.market,
      epoch: row.epoch,
      status: row.status,
      movedTo: row.moved_to,
    }
  );
}

function toKey(row: KeyRow | undefined): WrappedKey | undefined {
  return (
    row && {
      userId: row.user_id,
      scope: row.scope,
      wrapped: row.wrapped,
      wrappedBy: row.wrapped_by,
      createdAt: row.created_at,
    }
  );
}

function toRecord(row: RecordRow): StoredRecord {
  return {
    userId: row.user_id,
    service: row.service,
    collection: row.collection,
    key: row.key,
    version: row.version,
    ciphertext: row.ciphertext,
    updatedAt: row.updated_at,
    sealedKey: row.sealed_key,
  };
}

function prepare(db: Database.Database) {
  const tenancyColumns = 'user_id, service, market, epoch, status, moved_to';
  const recordColumns = 'user_id, service, collection, key, version, ciphertext, updated_at, sealed_key';
  return {
    getTenancy: db.prepare<[string, string], TenancyRow>(
      `SELECT ${tenancyColumns} FROM tenancies WHERE user_id = ? AND service = ?`,
    ),
    putTenancy: db.prepare<[string, string, string, number, string, string | null]>(
      `INSERT INTO tenancies (${tenancyColumns}) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, service) DO UPDATE SET market = excluded.market, epoch = excluded.epoch, status = excluded.status, moved_to = excluded.moved_to`,
    ),
    listTenancies: db.prepare<[], TenancyRow>(`SELECT ${tenancyColumns} FROM tenancies ORDER BY user_id, service`),
    listServiceTenancies: db.prepare<[string], TenancyRow>(
      `SELECT ${tenancyColumns} FROM tenancies WHERE service = ? ORDER BY user_id`,
    ),

    getKey: db.prepare<[string, string], KeyRow>(
      'SELECT user_id, scope, wrapped, wrapped_by, created_at FROM keys WHERE user_id = ? AND scope = ?',
    ),
    insertKey: db.prepare<[string, string, Buffer, string, number]>(
      'INSERT INTO keys (user_id, scope, wrapped, wrapped_by, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, scope) DO NOTHING',
    ),
    deleteKeys: db.prepare<[string]>('DELETE FROM keys WHERE user_id = ?'),
    // substr, not LIKE: scopes may hold '%' or '_', which LIKE would treat as wildcards.
    deleteKeysWithPrefix: db.prepare<[string, string, string]>(
      'DELETE FROM keys WHERE user_id = ? AND substr(scope, 1, length(?)) = ?',
    ),

    getRecord: db.prepare<RecordId, RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE user_id = ? AND service = ? AND collection = ? AND key = ?`,
    ),
    // One statement for the tenancy check and the read: one snapshot, one b-tree walk fewer.
    readRecord: db.prepare<[string, string, string, string], ReadRow>(
      `SELECT t.market AS market, t.epoch AS epoch, t.status AS status, t.moved_to AS moved_to, r.version AS version, r.ciphertext AS ciphertext, r.updated_at AS updated_at, r.sealed_key AS sealed_key
       FROM tenancies t LEFT JOIN records r ON r.user_id = t.user_id AND r.service = t.service AND r.collection = ? AND r.key = ?
       WHERE t.user_id = ? AND t.service = ?`,
    ),
    recordsOfCollection: db.prepare<[string], RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE collection = ? ORDER BY user_id, service, key`,
    ),
    recordVersion: db
      .prepare<RecordId, number>(
        'SELECT version FROM records WHERE user_id = ? AND service = ? AND collection = ? AND key = ?',
      )
      .pluck(),
    listRecords: db.prepare<[string, string], RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE user_id = ? AND service = ? ORDER BY collection, key`,
    ),
    listCollection: db.prepare<[string, string, string], RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE user_id = ? AND service = ? AND collection = ? ORDER BY key`,
    ),
    listCollectionPage: db.prepare<[string, string, string, string, number, number], RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE user_id = ? AND service = ? AND collection = ? AND key > ? AND (? = 0 OR instr(key, '~') = 0) ORDER BY key LIMIT ?`,
    ),
    upsertRecord: db.prepare<[string, string, string, string, number, Buffer, number, Buffer | null]>(
      `INSERT INTO records (${recordColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, service, collection, key) DO UPDATE SET version = excluded.version, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, sealed_key = excluded.sealed_key`,
    ),
    deleteRecord: db.prepare<RecordId>(
      'DELETE FROM records WHERE user_id = ? AND service = ? AND collection = ? AND key = ?',
    ),
    purgeUser: db.prepare<[string]>('DELETE FROM records WHERE user_id = ?'),
    purgeUserService: db.prepare<[string, string]>('DELETE FROM records WHERE user_id = ? AND service = ?'),

    appendChange: db.prepare<[string, string, string, string, string, number, number, Buffer | null]>(
      'INSERT INTO changes (user_id, service, collection, key, op, version, at, sealed_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    changesSince: db.prepare<[number, number], ChangeRow>(
      'SELECT seq, user_id, service, collection, key, op, version, at, sealed_key FROM changes WHERE seq > ? ORDER BY seq LIMIT ?',
    ),
    serviceChangesSince: db.prepare<[number, string, number], ChangeRow>(
      'SELECT seq, user_id, service, collection, key, op, version, at, sealed_key FROM changes WHERE seq > ? AND service = ? ORDER BY seq LIMIT ?',
    ),
    userChangesSince: db.prepare<[string, string, number, number], ChangeRow>(
      'SELECT seq, user_id, service, collection, key, op, version, at, sealed_key FROM changes WHERE user_id = ? AND service = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    recordState: db.prepare<RecordId, { version: number; ciphertext: Buffer; sealed_key: Buffer | null }>(
      'SELECT version, ciphertext, sealed_key FROM records WHERE user_id = ? AND service = ? AND collection = ? AND key = ?',
    ),
    insertTenancyIfAbsent: db.prepare<[string, string, string, number, string, string | null]>(
      `INSERT INTO tenancies (${tenancyColumns}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, service) DO NOTHING`,
    ),
    // Keys other than the user key ('') that are left, and tenancies of other services that may still make keys.
    otherKeys: db.prepare<[string], number>("SELECT count(*) FROM keys WHERE user_id = ? AND scope <> ''").pluck(),
    otherLiveTenancies: db
      .prepare<[string, string], number>(
        "SELECT count(*) FROM tenancies WHERE user_id = ? AND service <> ? AND status IN ('home', 'fenced', 'incoming')",
      )
      .pluck(),
    deleteUserKey: db.prepare<[string]>("DELETE FROM keys WHERE user_id = ? AND scope = ''"),
    // From the AUTOINCREMENT counter, not max(seq): purging a moved user's newest entries must
    // not move the log's end back (a tailing reader would then be told of seqs it has passed).
    lastSeq: db
      .prepare<[], number>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)")
      .pluck(),

    lastAuditSeq: db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM audit_entries').pluck(),
    insertAudit: db.prepare<[number, string | null, string, Buffer, Buffer]>(
      'INSERT INTO audit_entries (seq, event_id, type, entry, leaf_hash) VALUES (?, ?, ?, ?, ?)',
    ),
    insertCheckpoint: db.prepare<[number, Buffer, number, Buffer]>(
      'INSERT INTO audit_checkpoints (size, root, at, signature) VALUES (?, ?, ?, ?)',
    ),
    auditEntries: db.prepare<[number, number], AuditDbRow>(
      'SELECT seq, event_id, type, entry, leaf_hash FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT ?',
    ),
    auditCheckpointsUpTo: db.prepare<[number, number], CheckpointRow>(
      'SELECT size, root, at, signature FROM audit_checkpoints WHERE size > ? AND size <= ? ORDER BY size',
    ),
    auditSeqOfEvent: db.prepare<[string], number>('SELECT seq FROM audit_entries WHERE event_id = ?').pluck(),
    lastAuditOfType: db.prepare<[string], AuditDbRow>(
      'SELECT seq, event_id, type, entry, leaf_hash FROM audit_entries WHERE type = ? ORDER BY seq DESC LIMIT 1',
    ),
    deleteCollection: db.prepare<[string, string, string]>(
      'DELETE FROM records WHERE user_id = ? AND service = ? AND collection = ? RETURNING key, version, sealed_key',
    ),
    unsealedRecords: db.prepare<[number], RecordRow>(
      `SELECT ${recordColumns} FROM records WHERE sealed_key IS NULL LIMIT ?`,
    ),
    unsealedChanges: db.prepare<[number], ChangeRow>(
      'SELECT seq, user_id, service, collection, key, op, version, at, sealed_key FROM changes WHERE sealed_key IS NULL ORDER BY seq LIMIT ?',
    ),
    upgradeRecord: db.prepare<[string, Buffer, Buffer, string, string, string, string]>(
      'UPDATE records SET key = ?, sealed_key = ?, ciphertext = ? WHERE user_id = ? AND service = ? AND collection = ? AND key = ? AND sealed_key IS NULL',
    ),
    upgradeChange: db.prepare<[string, Buffer, number]>('UPDATE changes SET key = ?, sealed_key = ? WHERE seq = ?'),
    dropChange: db.prepare<[number]>('DELETE FROM changes WHERE seq = ?'),
    unsealedKeys: db
      .prepare<[], number>(
        'SELECT (SELECT count(*) FROM records WHERE sealed_key IS NULL) + (SELECT count(*) FROM changes WHERE sealed_key IS NULL)',
      )
      .pluck(),
    deleteKeyScope: db.prepare<[string, string]>('DELETE FROM keys WHERE user_id = ? AND scope = ?'),
    deleteUserTenancies: db.prepare<[string]>('DELETE FROM tenancies WHERE user_id = ?'),
    deleteUserChanges: db.prepare<[string]>('DELETE FROM changes WHERE user_id = ?'),
    deleteUserServiceChanges: db.prepare<[string, string]>('DELETE FROM changes WHERE user_id = ? AND service = ?'),
    deleteTenancy: db.prepare<[string, string]>('DELETE FROM tenancies WHERE user_id = ? AND service = ?'),
    markErased: db.prepare<[string, number]>(
      'INSERT INTO erased_users (user_id, at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING',
    ),
    isErased: db.prepare<[string], number>('SELECT 1 FROM erased_users WHERE user_id = ?').pluck(),

    // A user counts where they are served or being moved, or wherever their data still rests.
    placementStats: db.prepare<[], StatRow>(`
      SELECT t.market AS market, t.service AS service,
             sum(CASE WHEN t.status <> 'moved' OR coalesce(r.n, 0) > 0 THEN 1 ELSE 0 END) AS users,
             sum(coalesce(r.n, 0)) AS records,
             sum(coalesce(r.bytes, 0)) AS bytes
      FROM tenancies t
      LEFT JOIN (
        SELECT user_id, service, count(*) AS n, sum(length(ciphertext)) AS bytes FROM records GROUP BY user_id, service
      ) r ON r.user_id = t.user_id AND r.service = t.service
      GROUP BY t.market, t.service
      HAVING users > 0 OR records > 0
      ORDER BY t.market, t.service`),
    // Every (user, service) that a row here names, where the region does not serve that user's service.
    residueStats: db.prepare<[], ResidueRow>(`
      SELECT coalesce(t.market, '') AS market, n.service AS service, t.moved_to AS moved_to, count(*) AS residue
      FROM (
        SELECT user_id, service FROM tenancies WHERE status = 'moved'
        UNION SELECT user_id, service FROM records
        UNION SELECT user_id, service FROM changes
        UNION SELECT user_id, substr(scope, 1, instr(scope, '/') - 1) FROM keys WHERE instr(scope, '/') > 0
      ) n
      LEFT JOIN tenancies t ON t.user_id = n.user_id AND t.service = n.service
      WHERE t.status IS NULL OR t.status = 'moved'
      GROUP BY 1, 2, 3`),
    countChanges: db
      .prepare<[string, string], number>('SELECT count(*) FROM changes WHERE user_id = ? AND service = ?')
      .pluck(),
  };
}

type Statements = ReturnType<typeof prepare>;

/** What init() makes: the statements and the transactions built on them. */
interface Prepared {
  s: Statements;
  write: (write: RecordWrite, now: number) => WriteResult;
  delete: (del: RecordDelete, now: number) => WriteResult | undefined;
  putKeys: (keys: readonly WrappedKey[]) => WrappedKey[];
  advance: (tenancies: readonly Tenancy[]) => void;
  importBatch: (imports: readonly RecordImport[], now: number) => ImportResult;
  purgeTenants: (service: string, userIds: readonly string[], audit: AuditAppend | undefined) => PurgeResult;
  decideConsent: (write: ConsentWrite, now: number) => WriteResult;
  eraseUser: (userId: string, audit: AuditAppend) => { records: number; keys: number; tenancies: number };
  appendAudit: (append: AuditAppend) => void;
  upgradeKeys: (upgrade: KeyUpgrade) => void;
}

/** What one write of a group commit came to: its result, or what refused it. */
type WriteOutcome = { value: unknown } | { error: unknown };

// The bodies of the transactions init() makes, one per method that writes: each runs inside
// its transaction, so its checks and its writes commit or fail together.

/** RegionStore.writeRecord's: the tenancy and version checks (and the version of the record it requires), the upsert and its change entry. */
function writeIn(s: Statements, w: RecordWrite, now: number): WriteResult {
  checkTenancy(toTenancy(s.getTenancy.get(w.userId, w.service)), w.userId, w.service, w.epoch);
  if (w.requires) {
    const found = s.recordVersion.get(w.userId, w.service, w.requires.collection, w.requires.key) ?? 0;
    if (found !== w.requires.version) {
      throw new DomicileError(
        'CONFLICT',
        `record ${w.service}/${w.requires.collection}/${w.requires.key} of user ${w.userId} changed (version ${found}, not ${w.requires.version}) while the write was prepared: retry`,
        {
          details: { requires: w.requires, version: found },
        },
      );
    }
  }
  const current = s.recordVersion.get(w.userId, w.service, w.collection, w.key) ?? 0;
  checkVersion(w, current);
  const version = current + 1;
  s.upsertRecord.run(w.userId, w.service, w.collection, w.key, version, w.ciphertext, now, w.sealedKey ?? null);
  const seq = Number(
    s.appendChange.run(w.userId, w.service, w.collection, w.key, 'put', version, now, w.sealedKey ?? null)
      .lastInsertRowid,
  );
  return { version, seq, updatedAt: now };
}

/** RegionStore.deleteRecord's: the checks, the delete and its change entry; undefined when there was nothing to delete. */
function deleteIn(s: Statements, d: RecordDelete, now: number): WriteResult | undefined {
  checkTenancy(toTenancy(s.getTenancy.get(d.userId, d.service)), d.userId, d.service, d.epoch);
  const row = s.recordState.get(d.userId, d.service, d.collection, d.key);
  const current = row?.version ?? 0;
  checkVersion(d, current);
  if (current === 0) return undefined;
  s.deleteRecord.run(d.userId, d.service, d.collection, d.key);
  // A delete's change carries the version it removed, so a reader can tell which put it ends.
  const seq = Number(
    s.appendChange.run(d.userId, d.service, d.collection, d.key, 'delete', current, now, row?.sealed_key ?? null)
      .lastInsertRowid,
  );
  return { version: current, seq, updatedAt: now };
}

/** RegionStore.putKeysIfAbsent's: each key stored unless one is there already, and returned as stored. */
function putKeysIn(s: Statements, keys: readonly WrappedKey[]): WrappedKey[] {
  return keys.map((k) => {
    // A key for an erased user would wrap nothing and outlive the erasure: refused.
    refuseErased(s, k.userId, 'make a key for');
    s.insertKey.run(k.userId, k.scope, k.wrapped, k.wrappedBy, k.createdAt);
    const stored = toKey(s.getKey.get(k.userId, k.scope));
    if (!stored)
      throw new DomicileError(
        'INTERNAL',
        `key ${k.scope || '(user)'} of user ${k.userId} vanished while it was stored`,
      );
    return stored;
  });
}

/** RegionStore.advanceTenancies's: each tenancy put, none back to an epoch older than the one stored. */
function advanceIn(s: Statements, tenancies: readonly Tenancy[]): void {
  for (const t of tenancies) {
    refuseErased(s, t.userId, 'give a tenancy to');
    const stored = s.getTenancy.get(t.userId, t.service);
    if (stored && stored.epoch > t.epoch) throw staleTenancy(t, stored.epoch);
    s.putTenancy.run(t.userId, t.service, t.market, t.epoch, t.status, t.movedTo);
  }
}

/**
 * Deletes a category's records and its key. The deletes are logged at `logAt` when given
 * (a migration under way carries them to the destination); returns how many records went.
 */
function shredCategory(
  s: Statements,
  userId: string,
  service: string,
  category: string,
  logAt: number | undefined,
): number {
  const gone = s.deleteCollection.all(userId, service, category) as Array<{
    key: string;
    version: number;
    sealed_key: Buffer | null;
  }>;
  if (logAt !== undefined)
    for (const g of gone)
      s.appendChange.run(userId, service, category, g.key, 'delete', g.version, logAt, g.sealed_key);
  s.deleteKeyScope.run(userId, `${service}/${category}`);
  return gone.length;
}

/** RegionStore.importRecords's (what it logs and what it skips is said there). */
function importBatchIn(s: Statements, imports: readonly RecordImport[], now: number): ImportResult {
  let applied = 0;
  for (const b of imports) {
    checkImportNames(b);
    refuseErased(s, b.userId, 'import into');
    const tenancy = s.getTenancy.get(b.userId, b.service);
    if (tenancy?.status === 'home') throw liveTenancy(b.userId, b.service, 'home', 'import into');
    if (!tenancy) s.insertTenancyIfAbsent.run(b.userId, b.service, b.market, b.epoch, 'incoming', null);
    // An incoming copy is served by nobody and tailed by nobody, so its rows are not logged.
    const logged = tenancy !== undefined && tenancy.status !== 'incoming';
    for (const p of b.puts) {
      const current = s.recordState.get(b.userId, b.service, p.collection, p.key);
      if (current && current.version === p.version && current.ciphertext.equals(p.ciphertext)) continue;
      s.upsertRecord.run(
        b.userId,
        b.service,
        p.collection,
        p.key,
        p.version,
        p.ciphertext,
        p.updatedAt,
        p.sealedKey ?? null,
      );
      if (logged)
        s.appendChange.run(b.userId, b.service, p.collection, p.key, 'put', p.version, now, p.sealedKey ?? null);
      applied++;
    }
    for (const d of b.deletes) {
      const current = s.recordState.get(b.userId, b.service, d.collection, d.key);
      if (current === undefined) continue;
      s.deleteRecord.run(b.userId, b.service, d.collection, d.key);
      if (logged)
        s.appendChange.run(
          b.userId,
          b.service,
          d.collection,
          d.key,
          'delete',
          current.version,
          now,
          current.sealed_key,
        );
      applied++;
    }
    for (const category of b.shred ?? [])
      applied += shredCategory(s, b.userId, b.service, category, logged ? now : undefined);
  }
  return { applied, lastSeq: s.lastSeq.get() ?? 0 };
}

/** Appends entries and their checkpoint, in the caller's transaction: only if they continue the log, and record no event twice. */
function appendAuditIn(s: Statements, append: AuditAppend): void {
  const last = s.lastAuditSeq.get() ?? 0;
  const first = append.entries[0]?.seq ?? last + 1;
  if (first !== last + 1 || append.checkpoint.size !== last + append.entries.length) {
    throw new DomicileError(
      'CONFLICT',
      `the audit log holds ${last} entries: an append from seq ${first} with a checkpoint of size ${append.checkpoint.size} does not continue it`,
      { details: { auditSize: last } },
    );
  }
  for (const e of append.entries) {
    if (e.eventId !== null && s.auditSeqOfEvent.get(e.eventId) !== undefined) {
      throw new DomicileError('CONFLICT', `the audit log already records event ${e.eventId}`, {
        details: { eventId: e.eventId },
      });
    }
    s.insertAudit.run(e.seq, e.eventId, e.type, e.entry, e.leafHash);
  }
  const c = append.checkpoint;
  s.insertCheckpoint.run(c.size, c.root, c.at, c.signature);
}

/** RegionStore.decideConsent's: the ledger's put, the shreds the decision orders and its audit entries. */
function decideConsentIn(s: Statements, w: ConsentWrite, now: number): WriteResult {
  checkTenancy(toTenancy(s.getTenancy.get(w.userId, w.service)), w.userId, w.service, w.epoch);
  const current = s.recordVersion.get(w.userId, w.service, w.collection, w.key) ?? 0;
  checkVersion(w, current);
  const version = current + 1;
  s.upsertRecord.run(w.userId, w.service, w.collection, w.key, version, w.ciphertext, now, w.sealedKey ?? null);
  const seq = Number(
    s.appendChange.run(w.userId, w.service, w.collection, w.key, 'put', version, now, w.sealedKey ?? null)
      .lastInsertRowid,
  );
  for (const category of w.shred) shredCategory(s, w.userId, w.service, category, now);
  appendAuditIn(s, w.audit);
  return { version, seq, updatedAt: now };
}

/** RegionStore.eraseUser's: the user's records, keys, tenancies and change entries gone, the user marked erased, the audit entries appended. */
function eraseUserIn(
  s: Statements,
  userId: string,
  audit: AuditAppend,
): { records: number; keys: number; tenancies: number } {
  const records = s.purgeUser.run(userId).changes;
  const keys = s.deleteKeys.run(userId).changes;
  const tenancies = s.deleteUserTenancies.run(userId).changes;
  // The log's entries name the user's records (keys may be anything a user chose): gone too.
  s.deleteUserChanges.run(userId);
  s.markErased.run(userId, Date.now());
  appendAuditIn(s, audit);
  return { records, keys, tenancies };
}

/** RegionStore.purgeTenants's; the user's own key goes too once no key or live tenancy of theirs is left here. */
function purgeTenantsIn(
  s: Statements,
  service: string,
  userIds: readonly string[],
  audit: AuditAppend | undefined,
): PurgeResult {
  const total = { records: 0, keys: 0, changes: 0, tenancies: 0 };
  const prefix = `${service}/`;
  for (const userId of userIds) {
    const tenancy = s.getTenancy.get(userId, service);
    if (tenancy && (tenancy.status === 'home' || tenancy.status === 'fenced'))
      throw liveTenancy(userId, service, tenancy.status, 'purge');
    total.records += s.purgeUserService.run(userId, service).changes;
    total.keys += s.deleteKeysWithPrefix.run(userId, prefix, prefix).changes;
    total.changes += s.deleteUserServiceChanges.run(userId, service).changes;
    total.tenancies += s.deleteTenancy.run(userId, service).changes;
    if (s.otherKeys.get(userId) === 0 && s.otherLiveTenancies.get(userId, service) === 0)
      total.keys += s.deleteUserKey.run(userId).changes;
  }
  if (audit) appendAuditIn(s, audit);
  return total;
}

/** RegionStore.upgradeKeys's: records and change entries take their keyIds and sealed keys, dropChanges are deleted. */
function upgradeKeysIn(s: Statements, u: KeyUpgrade): void {
  for (const r of u.records)
    s.upgradeRecord.run(r.key, r.sealedKey, r.ciphertext, r.userId, r.service, r.collection, r.oldKey);
  for (const c of u.changes) s.upgradeChange.run(c.key, c.sealedKey, c.seq);
  for (const seq of u.dropChanges) s.dropChange.run(seq);
}

/**
 * The embedded RegionStore: one SQLite file per region, in WAL mode. Statements are prepared
 * once; every method is one (immediate) transaction, so the tenancy check, the version check,
 * the upsert and the change-log append of a write commit or fail together.
 * better-sqlite3 is synchronous: each call finishes before the promise is even returned, which
 * is what makes it fast on the request path (no thread hop) and its transactions simple.
 */
export class SqliteRegionStore implements RegionStore {
  readonly backend = 'sqlite' as const;
  readonly path: string;
  private readonly db: Database.Database;
  private prepared: Prepared | undefined;
  private fenceStatements:
    | { read: Database.Statement<[string], number>; raise: Database.Statement<[string, number]> }
    | undefined;
  /** Writes grouped into one commit per turn of the event loop when they come together (see grouped). */
  private readonly writes = new Batcher<() => unknown, WriteOutcome>((group) => this.commitGroup(group), {
    gather: 'turn',
  });

  constructor(options: SqliteRegionStoreOptions) {
    this.path = options.path;
    try {
      this.db = openSqliteDatabase(options.path, options);
    } catch (err) {
      throw new DomicileError(
        'UNAVAILABLE',
        `cannot open the region store ${options.path}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async init(): Promise<void> {
    if (this.prepared) return;
    applyMigrations(this.db, this.path, regionStoreMigrations);
    const s = prepare(this.db);
    // Each an IMMEDIATE transaction of its own, or a savepoint when it runs in a group commit.
    const db = this.db;
    this.prepared = {
      s,
      write: db.transaction((w: RecordWrite, now: number) => writeIn(s, w, now)).immediate,
      delete: db.transaction((d: RecordDelete, now: number) => deleteIn(s, d, now)).immediate,
      putKeys: db.transaction((keys: readonly WrappedKey[]) => putKeysIn(s, keys)).immediate,
      advance: db.transaction((tenancies: readonly Tenancy[]) => advanceIn(s, tenancies)).immediate,
      importBatch: db.transaction((imports: readonly RecordImport[], now: number) => importBatchIn(s, imports, now))
        .immediate,
      purgeTenants: db.transaction((service: string, userIds: readonly string[], audit: AuditAppend | undefined) =>
        purgeTenantsIn(s, service, userIds, audit),
      ).immediate,
      decideConsent: db.transaction((w: ConsentWrite, now: number) => decideConsentIn(s, w, now)).immediate,
      eraseUser: db.transaction((userId: string, audit: AuditAppend) => eraseUserIn(s, userId, audit)).immediate,
      appendAudit: db.transaction((append: AuditAppend) => appendAuditIn(s, append)).immediate,
      upgradeKeys: db.transaction((u: KeyUpgrade) => upgradeKeysIn(s, u)).immediate,
    };
  }

  async close(): Promise<void> {
    // Writes already asked for are committed (or refused) before the file closes.
    if (this.db.open) this.writes.leaveNow();
    if (this.db.open) this.db.close();
  }

  /**
   * Group commit: the writes, deletes and key creations asked for in one turn of the event loop
   * commit in one transaction, so concurrent callers (an order writer's 32 workers, a gateway's
   * requests) share one fsync; a writer alone commits at once (the Batcher's 'turn'). Each runs in a savepoint of its own, with its own checks: one
   * refused (CONFLICT, FENCED…) changes nothing and leaves the others to commit. Each caller is
   * answered once the whole group is durable, in the order they asked.
   */
  private async grouped<T>(run: () => T): Promise<T> {
    const outcome = await this.writes.submit(run);
    if ('error' in outcome) throw outcome.error;
    return outcome.value as T;
  }

  private commitGroup(group: ReadonlyArray<() => unknown>): WriteOutcome[] {
    const outcome = (run: () => unknown): WriteOutcome => {
      try {
        return { value: run() };
      } catch (error) {
        return { error };
      }
    };
    // Alone, a write is its own (immediate) transaction: a savepoint in an outer one would change nothing.
    if (group.length === 1) return [outcome(group[0]!)];
    // When the commit itself fails (the disk, the file closed), nothing of the group is there:
    // the Batcher fails every caller with that error.
    let outcomes: WriteOutcome[] = [];
    this.db
      .transaction(() => {
        outcomes = group.map(outcome);
      })
      .immediate();
    return outcomes;
  }

  private get ready(): Prepared {
    if (!this.prepared) throw new DomicileError('INTERNAL', `the region store ${this.path} is used before init()`);
    if (!this.db.open) throw new DomicileError('UNAVAILABLE', `the region store ${this.path} is closed`);
    return this.prepared;
  }

  private get s(): Statements {
    return this.ready.s;
  }

  async getTenancy(userId: string, service: string): Promise<Tenancy | undefined> {
    return toTenancy(this.s.getTenancy.get(userId, service));
  }

  async putTenancy(t: Tenancy): Promise<void> {
    refuseErased(this.s, t.userId, 'give a tenancy to');
    this.s.putTenancy.run(t.userId, t.service, t.market, t.epoch, t.status, t.movedTo);
  }

  async listTenancies(service?: string): Promise<Tenancy[]> {
    const rows = service === undefined ? this.s.listTenancies.all() : this.s.listServiceTenancies.all(service);
    return rows.map((row) => toTenancy(row) as Tenancy);
  }

  async getKey(userId: string, scope: string): Promise<WrappedKey | undefined> {
    return toKey(this.s.getKey.get(userId, scope));
  }

  async getKeys(refs: ReadonlyArray<{ userId: string; scope: string }>): Promise<WrappedKey[]> {
    return refs.flatMap((r) => toKey(this.s.getKey.get(r.userId, r.scope)) ?? []);
  }

  async putKeysIfAbsent(keys: readonly WrappedKey[]): Promise<WrappedKey[]> {
    const { putKeys } = this.ready;
    return this.grouped(() => putKeys(keys));
  }

  async deleteKeys(userId: string, scopePrefix?: string): Promise<number> {
    const result =
      scopePrefix === undefined
        ? this.s.deleteKeys.run(userId)
        : this.s.deleteKeysWithPrefix.run(userId, scopePrefix, scopePrefix);
    return result.changes;
  }

  async advanceTenancies(tenancies: readonly Tenancy[]): Promise<void> {
    this.ready.advance(tenancies);
  }

  async getRecord(userId: string, service: string, collection: string, key: string): Promise<StoredRecord | undefined> {
    const row = this.s.getRecord.get(userId, service, collection, key);
    return row && toRecord(row);
  }

  async readRecord(read: RecordRead): Promise<StoredRecord | undefined> {
    const { userId, service, collection, key } = read;
    const row = this.s.readRecord.get(collection, key, userId, service);
    const tenancy = row && {
      userId,
      service,
      market: row.market,
      epoch: row.epoch,
      status: row.status,
      movedTo: row.moved_to,
    };
    checkTenancy(tenancy, userId, service, read.epoch);
    if (row?.version == null || row.ciphertext === null || row.updated_at === null) return undefined;
    return {
      userId,
      service,
      collection,
      key,
      version: row.version,
      ciphertext: row.ciphertext,
      updatedAt: row.updated_at,
      sealedKey: row.sealed_key,
    };
  }

  async countUnsealedKeys(): Promise<number> {
    return this.s.unsealedKeys.get() ?? 0;
  }

  async unsealedRecords(limit: number): Promise<StoredRecord[]> {
    return this.s.unsealedRecords.all(limit).map(toRecord);
  }

  async unsealedChanges(limit: number): Promise<ChangeEntry[]> {
    return this.s.unsealedChanges.all(limit).map(toChange);
  }

  /** Scrubbed like a purge: the rows it rewrites named records by the client's keys. */
  async upgradeKeys(upgrade: KeyUpgrade): Promise<void> {
    const { upgradeKeys } = this.ready;
    this.scrubbing(() => upgradeKeys(upgrade));
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async tenantsOf(service: string, userIds: readonly string[]): Promise<TenantState[]> {
    return userIds.map((userId) => ({
      userId,
      erased: this.s.isErased.get(userId) !== undefined,
      tenancy: toTenancy(this.s.getTenancy.get(userId, service)),
    }));
  }

  async exportTenants(service: string, userIds: readonly string[]): Promise<TenantExport[]> {
    // One read transaction: the batch is read from one snapshot, as on PostgreSQL.
    return this.db.transaction(() =>
      userIds.map((userId) => ({
        userId,
        erased: this.s.isErased.get(userId) !== undefined,
        tenancy: toTenancy(this.s.getTenancy.get(userId, service)),
        records: this.s.listRecords.all(userId, service).map(toRecord),
      })),
    )();
  }

  async listRecords(userId: string, service: string, collection?: string, page?: RecordPage): Promise<StoredRecord[]> {
    const rows =
      collection === undefined
        ? this.s.listRecords.all(userId, service)
        : page === undefined
          ? this.s.listCollection.all(userId, service, collection)
          : this.s.listCollectionPage.all(
              userId,
              service,
              collection,
              page.after ?? '',
              page.withoutParts ? 1 : 0,
              page.limit,
            );
    return rows.map(toRecord);
  }

  async recordsOfCollection(collection: string): Promise<StoredRecord[]> {
    return this.s.recordsOfCollection.all(collection).map(toRecord);
  }

  async writeRecord(write: RecordWrite): Promise<WriteResult> {
    const ready = this.ready;
    const now = Date.now();
    return this.grouped(() => ready.write(write, now));
  }

  async deleteRecord(del: RecordDelete): Promise<WriteResult | undefined> {
    const ready = this.ready;
    const now = Date.now();
    return this.grouped(() => ready.delete(del, now));
  }

  async purgeUser(userId: string, service?: string): Promise<number> {
    const result = service === undefined ? this.s.purgeUser.run(userId) : this.s.purgeUserService.run(userId, service);
    return result.changes;
  }

  async importRecords(imports: readonly RecordImport[]): Promise<ImportResult> {
    const { importBatch } = this.ready;
    if (!imports.some((i) => (i.shred?.length ?? 0) > 0)) return importBatch(imports, Date.now());
    const result = this.scrubbing(() => importBatch(imports, Date.now()));
    checkpointScrubbed(this.db);
    return result;
  }

  /** Deletes and shreds, scrubbed from the files (see scrubbing). */
  async purgeTenants(service: string, userIds: readonly string[], audit?: AuditAppend): Promise<PurgeResult> {
    const { purgeTenants } = this.ready;
    const result = this.scrubbing(() => purgeTenants(service, userIds, audit));
    if (result.records > 0 || result.keys > 0 || result.changes > 0 || result.tenancies > 0)
      checkpointScrubbed(this.db);
    return result;
  }

  async decideConsent(write: ConsentWrite): Promise<WriteResult> {
    const { decideConsent } = this.ready;
    const result =
      write.shred.length > 0
        ? this.scrubbing(() => decideConsent(write, Date.now()))
        : decideConsent(write, Date.now());
    if (write.shred.length > 0) checkpointScrubbed(this.db);
    return result;
  }

  async eraseUser(userId: string, audit: AuditAppend): Promise<{ records: number; keys: number; tenancies: number }> {
    const { eraseUser } = this.ready;
    const result = this.scrubbing(() => eraseUser(userId, audit));
    checkpointScrubbed(this.db);
    return result;
  }

  /** Deletes and shreds, scrubbed from the files (see withSecureDelete). */
  private scrubbing<T>(fn: () => T): T {
    return withSecureDelete(this.db, fn);
  }

  async appendAudit(append: AuditAppend): Promise<void> {
    this.ready.appendAudit(append);
  }

  async isErased(userId: string): Promise<boolean> {
    return this.s.isErased.get(userId) !== undefined;
  }

  async auditPage(
    afterSeq: number,
    limit: number,
  ): Promise<{ entries: AuditRow[]; checkpoints: CheckpointRow[]; size: number }> {
    const s = this.s;
    // One read transaction, and synchronous: no append can land between its three reads.
    return this.db.transaction(() => {
      const entries = s.auditEntries.all(afterSeq, limit).map(toAudit);
      const size = s.lastAuditSeq.get() ?? 0;
      const upTo = entries.length < limit ? Number.MAX_SAFE_INTEGER : entries.at(-1)!.seq;
      const checkpoints = s.auditCheckpointsUpTo.all(afterSeq, upTo);
      return { entries, checkpoints, size };
    })();
  }

  async auditSeqOfEvent(eventId: string): Promise<number | undefined> {
    return this.s.auditSeqOfEvent.get(eventId);
  }

  async lastAuditOfType(type: string): Promise<AuditRow | undefined> {
    const row = this.s.lastAuditOfType.get(type);
    return row && toAudit(row);
  }

  async changesSince(afterSeq: number, limit: number, service?: string, userId?: string): Promise<ChangeEntry[]> {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new DomicileError('BAD_REQUEST', `changesSince takes a limit of at least 1, not ${limit}`);
    }
    if (userId !== undefined && service === undefined)
      throw new DomicileError('BAD_REQUEST', "changesSince of one user takes that user's service too");
    const rows =
      userId !== undefined
        ? this.s.userChangesSince.all(userId, service!, afterSeq, limit)
        : service === undefined
          ? this.s.changesSince.all(afterSeq, limit)
          : this.s.serviceChangesSince.all(afterSeq, service, limit);
    return rows.map(toChange);
  }

  async lastSeq(): Promise<number> {
    return this.s.lastSeq.get() ?? 0;
  }

  async admitFence(migrationId: string, token: number): Promise<number> {
    // Synchronous, so the read and the raise are one step; the write (a sync to disk) only when the token rises.
    this.fenceStatements ??= {
      read: this.db.prepare<[string], number>('SELECT token FROM migration_fences WHERE migration_id = ?').pluck(),
      raise: this.db.prepare<[string, number]>(
        'INSERT INTO migration_fences (migration_id, token) VALUES (?, ?) ON CONFLICT (migration_id) DO UPDATE SET token = excluded.token',
      ),
    };
    const stored = this.fenceStatements.read.get(migrationId);
    if (stored !== undefined && stored >= token) return stored;
    this.fenceStatements.raise.run(migrationId, token);
    return token;
  }

  async placementStats(): Promise<PlacementStat[]> {
    const stats = this.s.placementStats.all().map((row) => ({
      market: row.market,
      service: row.service,
      users: row.users,
      records: row.records,
      bytes: row.bytes,
      residue: 0,
    }));
    return withResidue(stats, this.s.residueStats.all());
  }

  async countChanges(userId: string, service: string): Promise<number> {
    return this.s.countChanges.get(userId, service) ?? 0;
  }
}

/** An erased user's data never rests here again, whoever would bring it (a migration's copy in flight). */
function refuseErased(s: Statements, userId: string, what: string): void {
  if (s.isErased.get(userId) !== undefined) throw erasedUser(userId, what);
}
