import type { PlacementStat, Tenancy } from '../store/region-store.js';

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
  value: unknown;
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
  market: string;
  status: Tenancy['status'];
  epoch: number;
  movedTo: string | null;
  keys: number;
  collections: CollectionHolding[];
}

export interface RegionClient {
  readonly regionId: string;
  health(): Promise<RegionHealth>;

  /** Makes this region the user's home for a service at an epoch (new users). */
  openTenancy(req: TenantRef & { market: string }): Promise<void>;

  putRecord(req: TenantRef & { collection: string; key: string; value: unknown; ifVersion?: number }): Promise<{ version: number; updatedAt: number }>;
  getRecord(req: TenantRef & { collection: string; key: string }): Promise<RecordView | null>;
  listRecords(req: TenantRef & { collection?: string }): Promise<RecordView[]>;
  deleteRecord(req: TenantRef & { collection: string; key: string; ifVersion?: number }): Promise<{ deleted: boolean }>;

  /** Stores the user's login identifiers and a scrypt hash of the password, encrypted, in the region. */
  setCredentials(req: TenantRef & { phone?: string; email?: string; password: string }): Promise<void>;
  /** True when the password matches; the hash never leaves the region. */
  verifyPassword(req: TenantRef & { password: string }): Promise<boolean>;

  placementStats(): Promise<PlacementStat[]>;
  describeUser(req: { userId: string }): Promise<UserHolding[]>;

  close(): Promise<void>;
}
