/**
 * RegionStore: the small storage interface a region node writes through. One folder per
 * backend (sqlite/ now, postgres/ later); one conformance suite (test/store/) runs against
 * every backend. Each method is atomic on its own, so no backend has to expose a generic
 * transaction across an async boundary. Stores see only ciphertext and pseudonymous ids.
 */

/** Where a user's data of one service stands in this region. */
export type TenancyStatus = 'home' | 'fenced' | 'moved' | 'incoming';

export interface Tenancy {
  userId: string;
  service: string;
  market: string;
  /** The directory epoch this region serves the user at; a migration raises it. */
  epoch: number;
  status: TenancyStatus;
  /** Where the user went, once status is 'moved'. */
  movedTo: string | null;
}

export interface WrappedKey {
  userId: string;
  /** '' for the user's key; 'service/category' for a category key wrapped by the user's key. */
  scope: string;
  wrapped: Buffer;
  /** The key-encryption key (or parent key) that wraps it. */
  wrappedBy: string;
  createdAt: number;
}

export interface StoredRecord {
  userId: string;
  service: string;
  collection: string;
  /** The record's keyId (a keyed hash of the client's key, see region/record-names.ts), never the client's key. */
  key: string;
  version: number;
  ciphertext: Buffer;
  updatedAt: number;
  /** The client's key, sealed by the node; null only in rows written without one (tests of the store alone). */
  sealedKey: Buffer | null;
}

export type ChangeOp = 'put' | 'delete';

export interface ChangeEntry {
  seq: number;
  userId: string;
  service: string;
  collection: string;
  key: string;
  op: ChangeOp;
  version: number;
  at: number;
  /** The sealed client's key of the record it changed (copied from the write, or from the row a delete removed). */
  sealedKey: Buffer | null;
}

/** One entry of the region's audit log, as stored. */
export interface AuditRow {
  seq: number;
  /** Names the event, so that recording it again records nothing; null for events without one. */
  eventId: string | null;
  type: string;
  entry: Buffer;
  leafHash: Buffer;
}

/** A signed tree head of the audit log, as stored. */
export interface CheckpointRow {
  size: number;
  root: Buffer;
  at: number;
  signature: Buffer;
}

/** Entries continuing the log and the checkpoint signed over the log with them. */
export interface AuditAppend {
  entries: AuditRow[];
  checkpoint: CheckpointRow;
}

/** A consent decision: the user's ledger record of the purpose and, unless it grants, the categories it shreds. */
export interface ConsentWrite {
  userId: string;
  service: string;
  epoch: number;
  /** The ledger's collection and key ('_consent', the purpose). */
  collection: string;
  key: string;
  /** The sealed ledger record, its whole history. */
  ciphertext: Buffer;
  /** The purpose, sealed (see RecordWrite.sealedKey). */
  sealedKey?: Buffer | undefined;
  /** The ledger record's current version (0: none yet); anything else is a CONFLICT. */
  ifVersion: number;
  /** Categories (collections) of the service whose records are deleted and whose key is shredded. */
  shred: string[];
  audit: AuditAppend;
}

export interface RecordWrite {
  userId: string;
  service: string;
  collection: string;
  key: string;
  /** The epoch the caller routed with; the write is refused unless the tenancy is 'home' at it. */
  epoch: number;
  /** The sealed value (AES-256-GCM envelope), made by the region node before the write. */
  ciphertext: Buffer;
  /** The client's key, sealed by the node: kept in the row and copied into its change entries, opaque to the store. */
  sealedKey?: Buffer | undefined;
  /** Optimistic concurrency: refuse unless the current version equals this (0 = must not exist). */
  ifVersion?: number | undefined;
  /**
   * Refuse (CONFLICT, details.requires) unless another record of the user's service is at this
   * version (0 = absent), in the write's own transaction: a write that a consent grant allowed
   * cannot land after the grant was withdrawn.
   */
  requires?: { collection: string; key: string; version: number } | undefined;
}

/**
 * One page of a collection's listing, in the store's own stable order of its `key` column
 * (whatever that column holds): the rows after `after` (exclusive), at most `limit`.
 * `withoutParts` leaves out the rows whose key has a `~`, the parts of another record (a
 * photo's chunks are `<photo>~<index>`), so a listing never reads their bodies.
 */
export interface RecordPage {
  after?: string | undefined;
  limit: number;
  withoutParts?: boolean | undefined;
}

/** A read on the request path: the record, if the tenancy is 'home' at the epoch. */
export interface RecordRead {
  userId: string;
  service: string;
  collection: string;
  key: string;
  epoch: number;
}

export interface RecordDelete {
  userId: string;
  service: string;
  collection: string;
  key: string;
  epoch: number;
  ifVersion?: number | undefined;
}

export interface WriteResult {
  version: number;
  seq: number;
  updatedAt: number;
}

/** A record as a migration imports it: sealed by the importing node, with the source's version. */
export interface ImportedRecord {
  collection: string;
  key: string;
  /** The source's version, kept as is (never renumbered). */
  version: number;
  ciphertext: Buffer;
  /** See RecordWrite.sealedKey. */
  sealedKey?: Buffer | undefined;
  /** The source's updatedAt, kept as is. */
  updatedAt: number;
}

/** One user's records of one service to import atomically (a migration's copy or catch-up step). */
export interface RecordImport {
  userId: string;
  service: string;
  /** Created as 'incoming' with this market and epoch if the user has no tenancy here yet. */
  market: string;
  epoch: number;
  puts: ImportedRecord[];
  deletes: Array<{ collection: string; key: string }>;
  /**
   * Categories (collections) whose records are deleted and whose key is shredded in the same
   * transaction, scrubbed: a copy that carries a consent withdrawal carries its shred too.
   */
  shred?: string[] | undefined;
}

export interface ImportResult {
  /** Puts and deletes that changed something (each appended one change entry). */
  applied: number;
  /** The region's last change sequence number after the import. */
  lastSeq: number;
}

/** See RegionStore.upgradeKeys. */
export interface KeyUpgrade {
  records: Array<{
    userId: string;
    service: string;
    collection: string;
    oldKey: string;
    key: string;
    sealedKey: Buffer;
    ciphertext: Buffer;
  }>;
  changes: Array<{ seq: number; key: string; sealedKey: Buffer }>;
  dropChanges: number[];
}

/** See RegionStore.tenantsOf. */
export interface TenantState {
  userId: string;
  erased: boolean;
  tenancy: Tenancy | undefined;
}

/** See RegionStore.exportTenants. */
export interface TenantExport extends TenantState {
  records: StoredRecord[];
}

export interface PurgeResult {
  records: number;
  keys: number;
  /** Change-log entries of the users' service that went with them. */
  changes: number;
  /** Tenancy rows that went (the directory, not this region, says where the users are now). */
  tenancies: number;
}

export interface PlacementStat {
  market: string;
  service: string;
  users: number;
  records: number;
  bytes: number;
  /**
   * Users whose rows still name them here though this region no longer serves them: a 'moved'
   * tenancy, or records, change-log entries or category keys of a service they have no tenancy
   * of (market '' then: nothing here says which). A completed move or roll-back leaves none.
   */
  residue: number;
  /**
   * Of the residue, users whose tenancy here is 'moved', by the region it names: during a
   * migration's roll-back window these are in move, not residue (the report decides, from the
   * coordinator). Absent where there are none.
   */
  movedTo?: Record<string, number>;
}

/**
 * What a store shared by several node processes tells each of them about keys deleted or
 * replaced by any of them (see RegionStore.watchKeys): 'shredded' names one; 'deaf' says the
 * watch is lost, so shreds may go unheard until 'listening' says it hears them again.
 */
export type KeyWatchEvent =
  | { type: 'shredded'; userId: string; scope: string }
  | { type: 'deaf' }
  | { type: 'listening' };

export interface RegionStore {
  readonly backend: 'sqlite' | 'postgres';
  /** Applies the append-only schema migrations (recorded in a ledger table). */
  init(): Promise<void>;
  close(): Promise<void>;
  /**
   * Where other processes may write the same store (PostgreSQL: a region's node pool), tells
   * `heard` of every key any of them deletes or replaces, at its commit; resolves once it hears
   * them. Absent where one process alone opens the store (SQLite holds a file lock).
   */
  watchKeys?(heard: (event: KeyWatchEvent) => void): Promise<void>;

  getTenancy(userId: string, service: string): Promise<Tenancy | undefined>;
  /** Inserts or replaces the tenancy row. */
  putTenancy(tenancy: Tenancy): Promise<void>;
  listTenancies(service?: string): Promise<Tenancy[]>;

  getKey(userId: string, scope: string): Promise<WrappedKey | undefined>;
  /** The keys of these (userId, scope) pairs that exist, in any order: one statement for a batch of users. */
  getKeys(refs: ReadonlyArray<{ userId: string; scope: string }>): Promise<WrappedKey[]>;
  /**
   * Stores each key unless one exists for its (userId, scope), in one transaction; returns the
   * keys that are stored, in the same order (another's where one was there first).
   */
  putKeysIfAbsent(keys: readonly WrappedKey[]): Promise<WrappedKey[]>;
  /** Deletes the user's keys: every scope, or those of one service ('service/' prefix). */
  deleteKeys(userId: string, scopePrefix?: string): Promise<number>;

  /**
   * Inserts or replaces each tenancy row unless the stored one has a higher epoch (STALE_EPOCH,
   * details.epoch: the stored one), all in one transaction (one stale row refuses them all):
   * whatever the status, an epoch never goes back. The migration coordinator's fence, flip,
   * unfence and roll-back of a batch of users.
   */
  advanceTenancies(tenancies: readonly Tenancy[]): Promise<void>;

  getRecord(userId: string, service: string, collection: string, key: string): Promise<StoredRecord | undefined>;
  /** Records and change entries without a sealed key: rows a version before keyIds wrote (their key column holds the client's key). */
  countUnsealedKeys(): Promise<number>;
  /** Up to `limit` records without a sealed key, whoever's (an old store's upgrade reads them in batches). */
  unsealedRecords(limit: number): Promise<StoredRecord[]>;
  /** Up to `limit` change entries without a sealed key, oldest first. */
  unsealedChanges(limit: number): Promise<ChangeEntry[]>;
  /**
   * An old store's upgrade of one batch, in one transaction, scrubbed from the files where the
   * backend can (the old rows name records by the client's keys): each record found by its old
   * key takes its keyId, sealed key and sealed value (version and updatedAt kept); each change
   * entry takes its keyId and sealed key, or is deleted when named in dropChanges.
   */
  upgradeKeys(upgrade: KeyUpgrade): Promise<void>;
  /** A user's records of a service, or of one collection; with `page` (a collection only), one page of it in the store's order of keys (keyIds). */
  listRecords(userId: string, service: string, collection?: string, page?: RecordPage): Promise<StoredRecord[]>;
  /**
   * Several users' data of a service at once (a migration's copy and digest of a batch): for each
   * user asked, in the order asked, whether they were erased here, their tenancy, and their
   * records in listRecords' order. A backend reads a batch in a constant number of statements.
   */
  exportTenants(service: string, userIds: readonly string[]): Promise<TenantExport[]>;
  /** Several users' erasure and tenancy of a service, in the order asked: a batch's checks in one read. */
  tenantsOf(service: string, userIds: readonly string[]): Promise<TenantState[]>;
  /** Every record of a collection, whoever's (the consent ledgers, for an operator's counts). */
  recordsOfCollection(collection: string): Promise<StoredRecord[]>;
  /**
   * The request path's read: checks the tenancy is 'home' at the epoch (the same errors as
   * writeRecord) and reads the record in one snapshot, and in one round trip on a networked
   * backend; undefined if the record is absent.
   */
  readRecord(read: RecordRead): Promise<StoredRecord | undefined>;
  /**
   * Upserts a record and appends a change, atomically, after checking the tenancy is 'home'
   * at the given epoch (DomicileError FENCED, STALE_EPOCH or WRONG_REGION otherwise) and the
   * optimistic version (CONFLICT).
   */
  writeRecord(write: RecordWrite): Promise<WriteResult>;
  /** Deletes a record and appends a change, with the same checks; undefined if absent. */
  deleteRecord(del: RecordDelete): Promise<WriteResult | undefined>;
  /** Removes every record of the user for a service (or all services), with no change entries. */
  purgeUser(userId: string, service?: string): Promise<number>;

  /**
   * A migration's import of one or more users, in one transaction: refuses (CONFLICT,
   * details.status) a tenancy that is 'home' (a live home is changed only by its users),
   * creates it as 'incoming' if absent (an existing non-home tenancy is left as it is), upserts
   * every put with its given version, ciphertext and updatedAt and deletes every named record.
   * Where the tenancy is 'fenced' or 'moved' (a source taking a move's changes back), each put
   * or delete that changed something appends one change entry: 'put' at the imported version,
   * 'delete' at the removed version. An 'incoming' tenancy's (a copy nobody serves or tails
   * yet) appends none: its log starts when it becomes home. A put whose stored row has the
   * same version and the same ciphertext bytes, and a delete of an absent record, change
   * nothing. A record named twice in one user's import is refused (BAD_REQUEST) before
   * anything changes, and so is everything else in the call when one user's import fails.
   */
  importRecords(imports: readonly RecordImport[]): Promise<ImportResult>;

  /**
   * A migration's last step for some users of a service, in one transaction: deletes their records,
   * their keys of the service (scopes 'service/…'), their change-log entries of the service and
   * their tenancy of it, and the user key too when no other key of the user remains and no
   * other tenancy of the user here is 'home', 'fenced' or 'incoming' (nothing left for it to
   * wrap, and nothing that may make a key). Nothing that names the users' service is left (a
   * region they left keeps only pseudonymous audit entries, invariant 2): asked about them
   * afterwards, the region answers WRONG_REGION as for anyone it does not know, and the caller
   * asks the directory, which says where they live. lastSeq() does not go back, even when the
   * newest entries were theirs. Refuses (CONFLICT, details.status) a tenancy that is 'home' or
   * 'fenced': live data is never purged. Appends no change entry. Purging again purges nothing
   * more. A backend should also scrub the deleted bytes from its files where it can.
   */
  purgeTenants(service: string, userIds: readonly string[], audit?: AuditAppend): Promise<PurgeResult>;

  /**
   * A consent decision, in one transaction after the same tenancy check as writeRecord: the
   * ledger record is written at ifVersion + 1 (CONFLICT otherwise) with a change entry; for
   * each category to shred, its records are deleted (a change entry each) and its key; and the
   * audit entries are appended. Deleted bytes are scrubbed from the files where the backend can.
   */
  decideConsent(write: ConsentWrite): Promise<WriteResult>;

  /**
   * A data subject's erasure here, in one transaction: every record, key, tenancy and change
   * entry of the user, with the audit entries appended. The user is remembered as erased: an
   * import, a tenancy or a new home for them is refused from then on (CONFLICT, details.erased),
   * so a copy in flight cannot bring their data back. Scrubbed like a purge.
   */
  eraseUser(userId: string, audit: AuditAppend): Promise<{ records: number; keys: number; tenancies: number }>;

  /** Appends entries and the checkpoint over them, in one transaction: CONFLICT unless the first entry's seq follows the last, or if an event id is already there. */
  appendAudit(append: AuditAppend): Promise<void>;
  /** Whether the user was erased here (see eraseUser). */
  isErased(userId: string): Promise<boolean>;
  /**
   * A page of the log in one snapshot (appends going on meanwhile are not half seen): entries
   * with seq > afterSeq (at most limit), the checkpoints whose size falls among them or, when
   * the page is the last, every checkpoint past afterSeq, and the log's size (its last seq, 0
   * when empty).
   */
  auditPage(
    afterSeq: number,
    limit: number,
  ): Promise<{ entries: AuditRow[]; checkpoints: CheckpointRow[]; size: number }>;
  /** The seq of the entry recording this event, if there is one. */
  auditSeqOfEvent(eventId: string): Promise<number | undefined>;
  /** The newest entry of a type. */
  lastAuditOfType(type: string): Promise<AuditRow | undefined>;

  /**
   * Change log entries with seq > afterSeq, oldest first, optionally of one service only.
   * Every entry with seq <= lastSeq() read before this call is visible to it: a reader that
   * reads lastSeq first and gets fewer than `limit` entries may resume after that lastSeq.
   * `userId` (with a service) narrows it to one user's changes, for a device's sync.
   */
  changesSince(afterSeq: number, limit: number, service?: string, userId?: string): Promise<ChangeEntry[]>;
  /**
   * A migration's fencing token: raises the newest token seen for the migration to `token` if it
   * is higher, atomically, and answers the newest after (higher than `token`: a newer
   * coordinator has led it since, and the caller is refused). It writes only when the token
   * rises (once per lead): asked again with the newest, it is one read.
   */
  admitFence(migrationId: string, token: number): Promise<number>;
  /** The highest seq ever given (0 before the first): never goes back, whatever a purge or erasure deletes. */
  lastSeq(): Promise<number>;

  /** Users, records, bytes and residue per market × service, for the residency report. */
  placementStats(): Promise<PlacementStat[]>;
  /** How many change-log entries name the user's service here (for `domicile where`). */
  countChanges(userId: string, service: string): Promise<number>;
}
