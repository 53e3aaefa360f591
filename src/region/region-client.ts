import type { AuditEvent } from '../audit/audit-event.js';
import type { Checkpoint } from '../audit/checkpoint.js';
import type { ConsentDecision, ConsentLedger } from '../consent/consent-ledger.js';
import type { ConsentStat } from '../consent/region-consent.js';
import type { PlacementStat, Tenancy } from '../store/region-store.js';
import type { RegionExport } from './region-dsar.js';

/**
 * RegionClient: the only way anything outside a region reaches it. Two implementations:
 * in-process (the embedded default: every region in the `domicile up` process) and HTTP
 * (`domicile region --id ID`, one process per region). Every argument and result is plain
 * JSON so the two behave the same; failures are DomicileErrors with the same codes.
 *
 * Plaintext crosses this boundary only between the gateway (or the migration coordinator)
 * and the user's own home region; keys never do.
 */

/** Which user, service and directory epoch a request was routed with. */
export interface TenantRef {
  userId: string;
  service: string;
  epoch: number;
}

export interface RecordView {
  collection: string;
  key: string;
  version: number;
  updatedAt: number;
  /** null when the value cannot be read back (see `unreadable`). */
  value: unknown;
  /**
   * Why the value is not given (it nests deeper than any reader can serialise, or it failed its
   * integrity check): a listing, sync or export gives the rest, and says so for this one.
   */
  unreadable?: string;
}

export interface RecordPageRequest extends TenantRef {
  collection: string;
  /** At most this many records (1 to 1,000). */
  limit: number;
  /** Where the previous page ended; none for the first. */
  cursor?: string;
  /** Leave out the parts of records (keys with `~`: a photo's chunks), never reading their bodies. */
  withoutParts?: boolean;
}

export interface RecordPageView {
  records: RecordView[];
  /** The next page's cursor; null when this page is the last. */
  cursor: string | null;
}

export interface RegionHealth {
  regionId: string;
  backend: 'sqlite' | 'postgres';
  lastSeq: number;
}

export interface CollectionHolding {
  collection: string;
  records: number;
  bytes: number;
}

/** What one region holds of one user, per service (for `domicile where`). */
export interface UserHolding {
  service: string;
  /** '' when the region has no tenancy of the user's service (only other rows name them). */
  market: string;
  /** 'none': no tenancy, yet rows of the service still name the user here. */
  status: Tenancy['status'] | 'none';
  epoch: number;
  movedTo: string | null;
  keys: number;
  collections: CollectionHolding[];
  /** Change-log entries of the user's service here. */
  changes: number;
  /** The region does not serve the user's service (no tenancy, or 'moved') yet rows here name them. */
  residue: boolean;
}

/** A record as it crosses regions during a migration: decrypted in the source, re-sealed in the destination. */
export interface MovedRecord {
  collection: string;
  key: string;
  version: number;
  updatedAt: number;
  value: unknown;
}

/**
 * A record as its region exports it: with the SHA-256 (hex) of its plaintext JSON and that
 * plaintext's size, both computed in the region that decrypted it, so the coordinator can
 * verify a copy without decrypting the source a second time.
 */
export interface ExportedRecord extends MovedRecord {
  hash: string;
  bytes: number;
}

/** One user's data of one service, exported by the source region. */
export interface ExportedUser {
  userId: string;
  market: string;
  records: ExportedRecord[];
}

/** The current state of records named by change-log entries: present ones, and deleted ones. */
export interface RecordStates<R extends MovedRecord = MovedRecord> {
  records: R[];
  deleted: Array<{ collection: string; key: string }>;
}

/** One user's records to import, with the market and epoch of their tenancy in the importing region. */
export interface UserImport {
  userId: string;
  market: string;
  epoch: number;
  states: RecordStates;
}

/** A tenancy as the coordinator sets it: fence, flip, unfence, roll back. */
export interface TenancyChange {
  userId: string;
  market: string;
  epoch: number;
  status: Tenancy['status'];
  movedTo: string | null;
}

/** A change-log entry as the migration engine tails it. */
export interface ChangeView {
  seq: number;
  userId: string;
  service: string;
  collection: string;
  key: string;
  op: 'put' | 'delete';
  version: number;
}

/** Per record: collection, key, version and SHA-256 of the plaintext JSON; equal on both sides after a copy. */
export interface UserDigest {
  userId: string;
  digest: string;
  records: Array<{ collection: string; key: string; version: number; hash: string }>;
}

/** A page of a region's audit log, as a verifier reads it: the raw entries and the checkpoints over them. */
export interface AuditPage {
  region: string;
  /** The region's Ed25519 public key (SPKI, base64), to pin. */
  publicKey: string;
  /** Entries in the log now. */
  size: number;
  entries: Array<{ seq: number; entry: string; leafHash: string }>;
  /** Checkpoints whose size falls in this page's range of seqs. */
  checkpoints: Checkpoint[];
}

export interface RegionClient {
  readonly regionId: string;
  health(): Promise<RegionHealth>;

  /** Makes this region the user's home for a service at an epoch (new users). */
  openTenancy(req: TenantRef & { market: string }): Promise<void>;

  putRecord(req: TenantRef & { collection: string; key: string; value: unknown; ifVersion?: number }): Promise<{ version: number; updatedAt: number }>;
  getRecord(req: TenantRef & { collection: string; key: string }): Promise<RecordView | null>;
  listRecords(req: TenantRef & { collection?: string }): Promise<RecordView[]>;
  /** One page of a collection, in the store's order; `cursor` (opaque) from the previous page, null after the last. */
  listRecordPage(req: RecordPageRequest): Promise<RecordPageView>;
  deleteRecord(req: TenantRef & { collection: string; key: string; ifVersion?: number }): Promise<{ deleted: boolean }>;

  /** Stores the user's login identifiers and a scrypt hash of the password, encrypted, in the region. */
  setCredentials(req: TenantRef & { phone?: string; email?: string; password: string }): Promise<void>;
  /** True when the password matches; the hash never leaves the region. */
  verifyPassword(req: TenantRef & { password: string }): Promise<boolean>;

  placementStats(): Promise<PlacementStat[]>;
  describeUser(req: { userId: string }): Promise<UserHolding[]>;

  // Migration primitives (the coordinator in src/migrate calls these; no key material crosses).

  /** Decrypts in this (source) region every record of the users for a service. */
  exportUsers(req: { service: string; userIds: string[]; digestKey?: string }): Promise<ExportedUser[]>;
  /** Current state of the named records of one user (for catch-up): values, or deleted. */
  readRecordStates(req: { service: string; userId: string; refs: Array<{ collection: string; key: string }>; digestKey?: string }): Promise<RecordStates<ExportedRecord>>;
  /**
   * Change-log entries after a sequence number, oldest first, optionally of one service (and
   * user). With an epoch (and userId and service), a request routed to the user's home: refused
   * (WRONG_REGION, STALE_EPOCH, FENCED) unless this region serves the user at that epoch.
   */
  changesSince(req: { afterSeq: number; limit: number; service?: string; userId?: string; epoch?: number }): Promise<{ changes: ChangeView[]; lastSeq: number }>;
  /**
   * Imports users' records into this (destination, or for a rollback the source) region under
   * its own fresh keys, keeping the source's version numbers, idempotently: applying the same
   * state twice changes nothing. Creates a tenancy as 'incoming' where absent. Allowed
   * whatever the tenancy's status except 'home' (a home region's data is changed only by its
   * users). All the users in one transaction: one refused user refuses the call.
   */
  importUsers(req: { service: string; users: UserImport[] }): Promise<{ applied: number }>;
  /** Digests of every record of each user for a service, computed on the decrypted plaintext. */
  digestUsers(req: { service: string; userIds: string[]; digestKey?: string }): Promise<UserDigest[]>;
  /** Sets users' tenancies for a service (fence, flip, unfence, roll back), in one transaction. */
  setTenancies(req: { service: string; tenancies: TenancyChange[] }): Promise<void>;
  /** Shreds the users' keys for a service and deletes their records; the tenancies stay (as 'moved'). Audited as a key shred. */
  purgeUsers(req: { service: string; userIds: string[]; reason?: 'migration-complete' | 'migration-rollback' }): Promise<{ records: number; keys: number }>;

  // Consent, in the user's home region of a service whose categories need the purpose.

  /** Records a decision; anything but a grant deletes the purpose's categories and shreds their keys. */
  recordConsent(req: TenantRef & { purpose: string; decision: ConsentDecision; noticeVersion?: string; method: string; source: string }): Promise<ConsentLedger>;
  /** The user's ledger of every purpose that gates one of the service's categories. */
  readConsents(req: TenantRef): Promise<ConsentLedger[]>;
  /** Counts of the ledgers here by last decision, per purpose and service. */
  consentStats(): Promise<ConsentStat[]>;

  // Data subject requests: whatever the user's tenancy here, and recorded under the request's id.

  exportUser(req: { userId: string; request: string }): Promise<RegionExport>;
  eraseUser(req: { userId: string; request: string }): Promise<{ records: number; keys: number; tenancies: number }>;

  // The region's audit log.

  /** Records events (transfers, requests) the caller answers for; an event whose id is recorded already is not recorded again. */
  recordEvents(req: { events: Array<{ id: string | null; event: AuditEvent }> }): Promise<{ seqs: number[] }>;
  readAudit(req: { afterSeq: number; limit: number }): Promise<AuditPage>;

  close(): Promise<void>;
}
