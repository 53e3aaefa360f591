import { createHmac } from 'node:crypto';
import { isDomicileError } from '../../errors/domicile-error.js';
import { outsideRegionTrace } from '../../wan/region-trace.js';
import type { Catalog, Product, Sale } from './catalog.js';
import type { Claim, PendingOrder, SaleCounts, SaleLedger } from './sale-ledger.js';

/** The order a won claim becomes, in the buyer's home region (shop/orders/<key>). */
export interface SaleOrder {
  key: string;
  value: {
    saleId: string;
    sku: string;
    name: string;
    price: Product['price'];
    unit: number;
    claimedAt: number;
    status: 'confirmed';
  };
}

export interface FlashSalesOptions {
  catalog: Catalog;
  /** The SQLite file of this gateway, or the shared PostgreSQL ledger of every gateway. */
  ledger: SaleLedger;
  /** Keys the buyer hashes (the blind index's key). */
  buyerKeySecret: string;
  /** Writes an order in the user's home region for the shop service; done at once if that very order is there already (written before a crash). */
  writeOrder: (userId: string, order: SaleOrder) => Promise<void>;
  /** Orders written at once (default 32). */
  concurrency?: number;
  /**
   * While claims keep coming (one in the last `quietMs`, default 250 ms), orders wait, up to
   * `maxDelayMs` (default 30 s) after their claim: each order is a commit in its region, and a
   * sale's buyers are answered first. The claim is durable either way.
   */
  quietMs?: number;
  maxDelayMs?: number;
  /** Called once a claim is durable, before anything else (the kill tests' fault point 'flash-sale-claimed'). */
  afterClaim?: () => void;
  log?: (line: string) => void;
}

/** The order key of a sale: one order per buyer per sale, so writing it again is idempotent. */
export function saleOrderKey(saleId: string): string {
  return `sale-${saleId}`;
}

/**
 * Flash sales: claims decided by the ledger, then each won claim written as an order in the
 * buyer's home region by a background writer (the ledger is its outbox), so that a sale runs
 * at the speed of the ledger's group commits, and no won unit is ever without its order: an
 * order that cannot be written now (its region is down, its user is being cut over) is
 * written later, after a restart too. With a shared ledger, the orders a gateway left (it died
 * between its claims' commit and their orders) are written by another: the order's key is the
 * sale's, so writing one twice leaves one order.
 */
export class FlashSales {
  private readonly sales: Map<string, { sale: Sale; product: Product }>;
  private writing: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private lastClaimAt = 0;
  /** The last failure of the order writer, shown in the sale's status. */
  lastError: string | null = null;

  constructor(private readonly options: FlashSalesOptions) {
    const products = new Map(options.catalog.products.map((p) => [p.sku, p]));
    this.sales = new Map(options.catalog.sales.map((s) => [s.id, { sale: s, product: products.get(s.sku)! }]));
    // Orders left by a previous process, and any a failure held back, are retried every second.
    this.timer = setInterval(() => this.kick(), 1_000);
    this.timer.unref();
    this.kick();
  }

  private buyerKey(saleId: string, userId: string): string {
    return createHmac('sha256', this.options.buyerKeySecret)
      .update(`domicile/flash-sale/v1\0${saleId}\0${userId}`)
      .digest('base64url');
  }

  /** One unit for this buyer, once it is durable; its order follows in the buyer's home region. */
  async claim(
    saleId: string,
    userId: string,
  ): Promise<Claim & { sku: string; order: { service: 'shop'; collection: 'orders'; key: string } }> {
    this.lastClaimAt = Date.now();
    const claim = await this.options.ledger.claim(saleId, userId, this.buyerKey(saleId, userId));
    this.options.afterClaim?.();
    this.kick();
    return {
      ...claim,
      sku: this.sales.get(saleId)!.sale.sku,
      order: { service: 'shop', collection: 'orders', key: saleOrderKey(saleId) },
    };
  }

  async counts(saleId: string): Promise<SaleCounts & { pendingOrders: number; lastError: string | null }> {
    const counts = await this.options.ledger.counts(saleId);
    return { ...counts, pendingOrders: counts.sold - counts.ordered, lastError: this.lastError };
  }

  saleIds(): string[] {
    return [...this.sales.keys()];
  }

  /** Resolves once every claim made so far (by any gateway of a shared ledger) has its order written (or after timeoutMs). */
  async drained(timeoutMs = 600_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!(await this.options.ledger.anyPending())) return true;
      this.kick();
      await (this.writing ?? new Promise((resolve) => setTimeout(resolve, 50)));
    }
    return false;
  }

  private kick(): void {
    if (this.closed) return;
    if (this.writing) {
      this.again = true;
      return;
    }
    // Background work of its own: not counted as part of the request whose claim kicked it (WAN emulation's trace).
    this.writing = outsideRegionTrace(() => this.writeOrders())
      .catch((err: unknown) => {
        // The ledger itself failed (a shared database out of reach): the next pass tries again.
        const message = `the flash sales' order writer could not read its ledger: ${(err as Error).message}; it is retried`;
        if (this.lastError !== message) this.options.log?.(message);
        this.lastError = message;
      })
      .finally(() => {
        this.writing = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Writes every pending order once, a page at a time, oldest first. An order that fails stays
   * pending for the next pass, and those after it are still tried (a region that is down holds
   * back its own buyers' orders only).
   */
  private async writeOrders(): Promise<void> {
    let after: PendingOrder | undefined;
    let failed = 0;
    for (;;) {
      const page = await this.options.ledger.pendingOrders(512, after);
      if (page.length === 0 || this.closed) {
        if (failed === 0) this.lastError = null;
        return;
      }
      after = page.at(-1);
      // A sale in full swing: its buyers first, unless the oldest order has waited long enough.
      const quiet = this.options.quietMs ?? 250;
      while (
        Date.now() - this.lastClaimAt < quiet &&
        Date.now() - page[0]!.claimedAt < (this.options.maxDelayMs ?? 30_000) &&
        !this.closed
      ) {
        await new Promise((resolve) => setTimeout(resolve, quiet));
      }
      // A shared ledger's other writers may have taken some of these meanwhile: they write those.
      const taken = await this.options.ledger.takeOrders(page);
      const done: PendingOrder[] = [];
      let next = 0;
      const worker = async () => {
        while (next < taken.length && !this.closed) {
          const pending = taken[next++]!;
          if (await this.writeOne(pending)) done.push(pending);
        }
      };
      await Promise.all(Array.from({ length: this.options.concurrency ?? 32 }, worker));
      if (done.length > 0) await this.options.ledger.markOrdered(done);
      failed += taken.length - done.length;
    }
  }

  /** True once the order rests in the home region (or can never be written: its user is gone). */
  private async writeOne(pending: PendingOrder): Promise<boolean> {
    const { sale, product } = this.sales.get(pending.saleId) ?? {};
    if (!sale || !product) return false;
    try {
      await this.options.writeOrder(pending.userId, {
        key: saleOrderKey(sale.id),
        value: {
          saleId: sale.id,
          sku: product.sku,
          name: product.name,
          price: product.price,
          unit: pending.unit,
          claimedAt: pending.claimedAt,
          status: 'confirmed',
        },
      });
      return true;
    } catch (err) {
      // The user was erased meanwhile: no order to keep for them.
      if (isDomicileError(err, 'NOT_FOUND')) return true;
      const message = `writing the order of sale ${sale.id} unit ${pending.unit} failed: ${(err as Error).message}; it is retried`;
      if (this.lastError !== message) this.options.log?.(message);
      this.lastError = message;
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.writing;
    await this.options.ledger.close();
  }
}
