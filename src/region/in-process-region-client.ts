import type { AuditEvent } from '../audit/audit-event.js';
import type { ConsentDecision, ConsentLedger } from '../consent/consent-ledger.js';
import type { ConsentStat } from '../consent/region-consent.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { RegionExport } from './region-dsar.js';
import type { PlacementStat } from '../store/region-store.js';
import type {
  AuditPage,
  ChangeView,
  ExportedRecord,
  ExportedUser,
  RecordPageRequest,
  RecordPageView,
  RecordStates,
  RecordView,
  RegionClient,
  RegionHealth,
  TenancyChange,
  TenantRef,
  UserDigest,
  UserHolding,
  UserImport,
} from './region-client.js';
import type { RegionNode } from './region-node.js';

/**
 * The embedded RegionClient: calls a RegionNode in this process. It must behave exactly like
 * the HTTP client, so:
 * - results are JSON-safe copies the caller may keep or change. Record values come straight
 *   from JSON.parse of the decrypted plaintext, so they are fresh already and are not copied
 *   again (the hot path); everything else is copied through JSON.
 * - a failure is always a DomicileError: anything else (a bug, a driver error) becomes
 *   INTERNAL, as the HTTP server would report it, keeping the original as the cause.
 */
export class InProcessRegionClient implements RegionClient {
  readonly regionId: string;

  constructor(private readonly node: RegionNode) {
    this.regionId = node.regionId;
  }

  health(): Promise<RegionHealth> {
    return this.call(async () => jsonCopy(await this.node.health()));
  }

  openTenancy(req: TenantRef & { market: string }): Promise<void> {
    return this.call(() => this.node.openTenancy(req));
  }

  putRecord(req: TenantRef & { collection: string; key: string; value: unknown; ifVersion?: number }): Promise<{ version: number; updatedAt: number }> {
    return this.call(() => this.node.putRecord(req));
  }

  getRecord(req: TenantRef & { collection: string; key: string }): Promise<RecordView | null> {
    return this.call(() => this.node.getRecord(req));
  }

  listRecords(req: TenantRef & { collection?: string }): Promise<RecordView[]> {
    return this.call(() => this.node.listRecords(req));
  }

  listRecordPage(req: RecordPageRequest): Promise<RecordPageView> {
    return this.call(() => this.node.listRecordPage(req));
  }

  deleteRecord(req: TenantRef & { collection: string; key: string; ifVersion?: number }): Promise<{ deleted: boolean }> {
    return this.call(() => this.node.deleteRecord(req));
  }

  setCredentials(req: TenantRef & { phone?: string; email?: string; password: string }): Promise<void> {
    return this.call(() => this.node.setCredentials(req));
  }

  verifyPassword(req: TenantRef & { password: string }): Promise<boolean> {
    return this.call(() => this.node.verifyPassword(req));
  }

  placementStats(): Promise<PlacementStat[]> {
    return this.call(async () => jsonCopy(await this.node.placementStats()));
  }

  describeUser(req: { userId: string }): Promise<UserHolding[]> {
    return this.call(async () => jsonCopy(await this.node.describeUser(req)));
  }

  // Exported and read values come from JSON.parse of decrypted plaintext (fresh, like the record
  // reads above); the rest is built by the node for this call. Nothing needs copying.

  exportUsers(req: { service: string; userIds: string[]; digestKey?: string }): Promise<ExportedUser[]> {
    return this.call(() => this.node.exportUsers(req));
  }

  readRecordStates(req: { service: string; userId: string; refs: Array<{ collection: string; key: string }>; digestKey?: string }): Promise<RecordStates<ExportedRecord>> {
    return this.call(() => this.node.readRecordStates(req));
  }

  changesSince(req: { afterSeq: number; limit: number; service?: string; userId?: string; epoch?: number }): Promise<{ changes: ChangeView[]; lastSeq: number }> {
    return this.call(() => this.node.changesSince(req));
  }

  importUsers(req: { service: string; users: UserImport[] }): Promise<{ applied: number }> {
    return this.call(() => this.node.importUsers(req));
  }

  digestUsers(req: { service: string; userIds: string[]; digestKey?: string }): Promise<UserDigest[]> {
    return this.call(() => this.node.digestUsers(req));
  }

  setTenancies(req: { service: string; tenancies: TenancyChange[] }): Promise<void> {
    return this.call(() => this.node.setTenancies(req));
  }

  purgeUsers(req: { service: string; userIds: string[]; reason?: 'migration-complete' | 'migration-rollback' }): Promise<{ records: number; keys: number }> {
    return this.call(() => this.node.purgeUsers(req));
  }

  recordConsent(req: TenantRef & { purpose: string; decision: ConsentDecision; noticeVersion?: string; method: string; source: string }): Promise<ConsentLedger> {
    return this.call(async () => jsonCopy(await this.node.recordConsent(req)));
  }

  readConsents(req: TenantRef): Promise<ConsentLedger[]> {
    return this.call(async () => jsonCopy(await this.node.readConsents(req)));
  }

  consentStats(): Promise<ConsentStat[]> {
    return this.call(async () => jsonCopy(await this.node.consentStats()));
  }

  exportUser(req: { userId: string; request: string }): Promise<RegionExport> {
    return this.call(() => this.node.exportUser(req));
  }

  eraseUser(req: { userId: string; request: string }): Promise<{ records: number; keys: number; tenancies: number }> {
    return this.call(() => this.node.eraseUser(req));
  }

  recordEvents(req: { events: Array<{ id: string | null; event: AuditEvent }> }): Promise<{ seqs: number[] }> {
    return this.call(() => this.node.recordEvents(req));
  }

  readAudit(req: { afterSeq: number; limit: number }): Promise<AuditPage> {
    return this.call(() => this.node.readAudit(req));
  }

  close(): Promise<void> {
    return this.call(() => this.node.close());
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw asDomicileError(err, this.regionId);
    }
  }
}

function jsonCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** What the HTTP server would send for this failure, as the HTTP client would rebuild it. */
export function asDomicileError(err: unknown, regionId: string): DomicileError {
  if (err instanceof DomicileError) return err;
  return new DomicileError('INTERNAL', `region ${regionId} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
