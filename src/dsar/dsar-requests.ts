export type DsarKind = 'export' | 'erase';
export type DsarState = 'pending' | 'completed' | 'failed';

/** A data subject request as its status reports it. */
export interface DsarRequest {
  id: string;
  userId: string;
  kind: DsarKind;
  state: DsarState;
  /** Who asked: 'user' or 'operator'. */
  source: string;
  createdAt: number;
  updatedAt: number;
  /** Regions that have done their part. */
  regionsDone: string[];
  error: string | null;
}

export interface DsarPatch {
  state?: DsarState;
  regionsDone?: string[];
  error?: string | null;
}

/**
 * The durable record of data subject requests: an erasure's state and the regions that have
 * erased survive a restart (of this gateway, or of any of several sharing a database), and
 * whoever opens it next carries the erasure on. It holds pseudonymous user ids only, and outlives
 * the user's directory entry, as the audit entries do.
 *
 * A request is worked by one holder at a time: its lease, held by a name and renewed while the
 * holder works, and free again once released or expired (a holder that died renews nothing).
 * Every write of progress names the holder and is refused (undefined) once another holds it.
 */
export interface DsarStore {
  /** A new pending request, leased to `holder` for `leaseMs`. */
  create(
    r: Pick<DsarRequest, 'id' | 'userId' | 'kind' | 'source'>,
    holder: string,
    leaseMs: number,
  ): Promise<DsarRequest>;
  get(id: string): Promise<DsarRequest | undefined>;
  /**
   * Leases the oldest pending erasure that no one holds (or whose lease expired), other than
   * those in `skip`: undefined when there is none.
   */
  claimPending(holder: string, leaseMs: number, skip: readonly string[]): Promise<DsarRequest | undefined>;
  /** Extends the holder's lease; false if it holds it no longer. */
  renew(id: string, holder: string, leaseMs: number): Promise<boolean>;
  /**
   * Writes progress of a request the holder leases (renewing the lease, or releasing it with
   * `release`); undefined, and nothing written, if another holds it now.
   */
  update(
    id: string,
    holder: string,
    patch: DsarPatch,
    lease: { release: true } | { leaseMs: number },
  ): Promise<DsarRequest | undefined>;
  /** Lets go of every lease the holder has, so that another may carry its requests at once. */
  releaseAll(holder: string): Promise<void>;
  close(): Promise<void>;
}
