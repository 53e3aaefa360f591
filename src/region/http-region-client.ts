import type { AuditEvent } from '../audit/audit-event.js';
import type { ConsentDecision, ConsentLedger } from '../consent/consent-ledger.js';
import type { ConsentStat } from '../consent/region-consent.js';
import { DomicileError, errorFromJSON } from '../errors/domicile-error.js';
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
import type { RegionMethod } from './region-http-server.js';

export interface HttpRegionClientOptions {
  regionId: string;
  /** Where the region's node listens, e.g. http://127.0.0.1:7101. */
  baseUrl: string;
  nodeToken: string;
  /** How long a call waits for an answer before UNAVAILABLE (default 10 s). */
  timeoutMs?: number;
}

/**
 * A RegionClient that reaches a region running as its own process (`domicile region`).
 * Node's fetch (undici) keeps connections alive and reuses them, so a call costs one
 * round trip on a warm socket. Errors come back as the node sent them (same codes, messages
 * and details as the in-process client); a region that cannot be reached is UNAVAILABLE,
 * naming the region and its URL.
 */
export class HttpRegionClient implements RegionClient {
  readonly regionId: string;
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(options: HttpRegionClientOptions) {
    this.regionId = options.regionId;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.nodeToken}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  health(): Promise<RegionHealth> {
    return this.post('health', {});
  }

  async openTenancy(req: TenantRef & { market: string }): Promise<void> {
    await this.post('openTenancy', req);
  }

  putRecord(req: TenantRef & { collection: string; key: string; value: unknown; ifVersion?: number }): Promise<{ version: number; updatedAt: number }> {
    return this.post('putRecord', req);
  }

  getRecord(req: TenantRef & { collection: string; key: string }): Promise<RecordView | null> {
    return this.post('getRecord', req);
  }

  listRecords(req: TenantRef & { collection?: string }): Promise<RecordView[]> {
    return this.post('listRecords', req);
  }

  listRecordPage(req: RecordPageRequest): Promise<RecordPageView> {
    return this.post('listRecordPage', req);
  }

  deleteRecord(req: TenantRef & { collection: string; key: string; ifVersion?: number }): Promise<{ deleted: boolean }> {
    return this.post('deleteRecord', req);
  }

  async setCredentials(req: TenantRef & { phone?: string; email?: string; password: string }): Promise<void> {
    await this.post('setCredentials', req);
  }

  verifyPassword(req: TenantRef & { password: string }): Promise<boolean> {
    return this.post('verifyPassword', req);
  }

  placementStats(): Promise<PlacementStat[]> {
    return this.post('placementStats', {});
  }

  describeUser(req: { userId: string }): Promise<UserHolding[]> {
    return this.post('describeUser', req);
  }

  exportUsers(req: { service: string; userIds: string[]; digestKey?: string }): Promise<ExportedUser[]> {
    return this.post('exportUsers', req);
  }

  readRecordStates(req: { service: string; userId: string; refs: Array<{ collection: string; key: string }>; digestKey?: string }): Promise<RecordStates<ExportedRecord>> {
    return this.post('readRecordStates', req);
  }

  changesSince(req: { afterSeq: number; limit: number; service?: string; userId?: string; epoch?: number }): Promise<{ changes: ChangeView[]; lastSeq: number }> {
    return this.post('changesSince', req);
  }

  importUsers(req: { service: string; users: UserImport[] }): Promise<{ applied: number }> {
    return this.post('importUsers', req);
  }

  digestUsers(req: { service: string; userIds: string[]; digestKey?: string }): Promise<UserDigest[]> {
    return this.post('digestUsers', req);
  }

  async setTenancies(req: { service: string; tenancies: TenancyChange[] }): Promise<void> {
    await this.post('setTenancies', req);
  }

  purgeUsers(req: { service: string; userIds: string[]; reason?: 'migration-complete' | 'migration-rollback' }): Promise<{ records: number; keys: number }> {
    return this.post('purgeUsers', req);
  }

  recordConsent(req: TenantRef & { purpose: string; decision: ConsentDecision; noticeVersion?: string; method: string; source: string }): Promise<ConsentLedger> {
    return this.post('recordConsent', req);
  }

  readConsents(req: TenantRef): Promise<ConsentLedger[]> {
    return this.post('readConsents', req);
  }

  consentStats(): Promise<ConsentStat[]> {
    return this.post('consentStats', {});
  }

  exportUser(req: { userId: string; request: string }): Promise<RegionExport> {
    return this.post('exportUser', req);
  }

  eraseUser(req: { userId: string; request: string }): Promise<{ records: number; keys: number; tenancies: number }> {
    return this.post('eraseUser', req);
  }

  recordEvents(req: { events: Array<{ id: string | null; event: AuditEvent }> }): Promise<{ seqs: number[] }> {
    return this.post('recordEvents', req);
  }

  readAudit(req: { afterSeq: number; limit: number }): Promise<AuditPage> {
    return this.post('readAudit', req);
  }

  /** Nothing to release: the region runs on, and idle pooled sockets close by themselves. */
  async close(): Promise<void> {}

  private async post<T>(method: RegionMethod, body: unknown): Promise<T> {
    const url = `${this.baseUrl}/region/v1/${method}`;
    let payload: string;
    try {
      payload = JSON.stringify(body);
    } catch (err) {
      throw new DomicileError('BAD_REQUEST', `a record value must be JSON: ${(err as Error).message}`, { cause: err, details: { field: 'value' } });
    }
    let text: string;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: this.authorization },
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw this.unreachable(url, err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw this.unavailable(new Error(`region ${this.regionId} at ${this.baseUrl} answered ${method} with HTTP ${response.status} and a body that is not JSON (is it a Domicile region node?): ${(err as Error).message}`, { cause: err }));
    }
    if (!response.ok) throw errorFromJSON(parsed, `region ${this.regionId} answered ${method} with HTTP ${response.status}`);
    return ((parsed as { result?: unknown } | null)?.result ?? null) as T;
  }

  private unreachable(url: string, err: unknown): DomicileError {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const reason = timedOut
      ? `did not answer within ${this.timeoutMs} ms`
      : `cannot be reached (${typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message})`;
    return this.unavailable(new Error(`region ${this.regionId} at ${url} ${reason}`, { cause: err }));
  }

  /**
   * What a caller (and through the gateway, a public client) is told: the region and what to
   * do. The node's address and the socket's error are internal: they ride in the cause, which
   * the error's log line carries (see sendHttpError) and no answer does.
   */
  private unavailable(internal: Error): DomicileError {
    return new DomicileError('UNAVAILABLE', `region ${this.regionId} cannot be reached just now: try again in a few seconds; if it lasts, the operator finds the cause in the gateway's log`, {
      cause: internal, details: { region: this.regionId, retryAfterSeconds: 5 },
    });
  }
}
