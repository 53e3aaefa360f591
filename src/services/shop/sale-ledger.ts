/** A unit won: its number in the sale and when it was claimed. */
export interface Claim {
  saleId: string;
  unit: number;
  claimedAt: number;
}

/** A claim whose order is not yet written to the buyer's home region. */
export interface PendingOrder extends Claim {
  buyerKey: string;
  userId: string;
}

export interface SaleCounts {
  id: string;
  sku: string;
  units: number;
  sold: number;
  remaining: number;
  /** Claims whose order rests in the buyer's home region. */
  ordered: number;
}

/**
 * The flash sales' stock, who won it, and the outbox of their orders: one SQLite file of one
 * gateway (the embedded default), or tables in the shared PostgreSQL directory's database that
 * every gateway claims against. FlashSales does not care which.
 */
export interface SaleLedger {
  /**
   * Claims one unit of a sale for a buyer: resolves once the claim is durable. CONFLICT when the
   * sale is sold out (details.reason 'sold-out') or this buyer has a unit (details.reason
   * 'already-bought'); NOT_FOUND for a sale the catalog does not have.
   */
  claim(saleId: string, userId: string, buyerKey: string): Promise<Claim>;
  counts(saleId: string): Promise<SaleCounts>;
  /**
   * The oldest claims whose order this writer may write now, after `after` (a page's last) when
   * given: in a shared ledger, its own and those another writer left longer than its lease.
   */
  pendingOrders(limit: number, after?: PendingOrder): Promise<PendingOrder[]>;
  /** Takes pending orders for writing: answers those this writer holds now (a shared ledger leases them, so two writers do not write the same orders at once). */
  takeOrders(orders: readonly PendingOrder[]): Promise<PendingOrder[]>;
  /** Marks orders written, and forgets whose they were (the order itself rests in the home region). */
  markOrdered(orders: readonly PendingOrder[]): Promise<void>;
  /** Whether any claim, of any writer, still waits for its order. */
  anyPending(): Promise<boolean>;
  close(): Promise<void>;
}
