import type Database from 'better-sqlite3';
import { DomicileError } from '../../errors/domicile-error.js';
import { Batcher } from '../../shared/batcher.js';
import type { SchemaMigration } from '../../store/schema-runner.js';
import { openSqliteDatabase } from '../../store/sqlite/open-sqlite-database.js';
import { applyMigrations } from '../../store/sqlite/sqlite-schema-ledger.js';
import type { Sale } from './catalog.js';
import type { Claim, PendingOrder, SaleCounts, SaleLedger } from './sale-ledger.js';

const ledgerMigrations: readonly SchemaMigration[] = [
  {
    id: 1,
    name: 'sales, claims',
    sql: `
    CREATE TABLE sales (id TEXT PRIMARY KEY, sku TEXT NOT NULL, units INTEGER NOT NULL, sold INTEGER NOT NULL DEFAULT 0 CHECK (sold <= units));
    -- buyer_key: a keyed hash of sale and user, so the ledger links no user to a purchase once
    -- the order rests in the user's home region (user_id is cleared then).
    CREATE TABLE claims (
      sale_id TEXT NOT NULL REFERENCES sales (id),
      buyer_key TEXT NOT NULL,
      unit INTEGER NOT NULL,
      claimed_at INTEGER NOT NULL,
      user_id TEXT,
      ordered_at INTEGER,
      PRIMARY KEY (sale_id, buyer_key),
      UNIQUE (sale_id, unit)
    ) WITHOUT ROWID;
    CREATE INDEX claims_to_order ON claims (claimed_at) WHERE ordered_at IS NULL;
  `,
  },
];

interface SaleState {
  sale: Sale;
  sold: number;
  /** Claims whose order rests in the buyer's region, counted as they are marked (read from the file at start). */
  ordered: number;
  buyers: Set<string>;
}

/**
 * The flash sales' stock and who won it, in one SQLite file (`<data>/shop/flash-sales.db`): the
 * ledger of a gateway that shares its directory with no other.
 *
 * A claim is decided in memory, at once and in arrival order: a unit is left, and this buyer
 * has none (so no oversell and no double sale, whatever the load: one process decides, and
 * JavaScript runs one claim at a time). It is acknowledged only once durable. Claims are group
 * committed, every claim that arrived while the last commit ran in one transaction, so a
 * sale of 100,000 units costs a few hundred commits, not 100,000.
 *
 * The ledger is then the order's outbox: each claim is written as an order in the buyer's
 * home region (FlashSales does that), and marked ordered here.
 */
export class SqliteSaleLedger implements SaleLedger {
  private readonly db: Database.Database;
  private readonly sales = new Map<string, SaleState>();
  /** Claims waiting for their group commit. */
  private readonly claims: Batcher<PendingOrder, Claim>;
  /** Set when a commit failed: memory may be ahead of the file, so nothing more is claimed until a restart reloads it. */
  private broken: Error | undefined;

  constructor(
    readonly file: string,
    sales: readonly Sale[],
    options: { durability?: 'full' | 'normal'; groupCommitMs?: number } = {},
  ) {
    // How long a commit waits for more claims to join it (default 2 ms). A commit is an fsync,
    // which blocks the process: claims that wait 2 ms share one, rather than each few claims
    // paying for their own (measured: 40 µs of a claim's cost was its share of fsyncs).
    this.claims = new Batcher((batch) => this.commit(batch), { gather: { ms: options.groupCommitMs ?? 2 } });
    try {
      this.db = openSqliteDatabase(file, {
        durability: options.durability ?? 'full',
        foreignKeys: true,
        exclusive: true,
        busyTimeoutMs: 100,
      });
      applyMigrations(this.db, file, ledgerMigrations);
    } catch (err) {
      if (err instanceof DomicileError) throw err;
      throw new DomicileError(
        'UNAVAILABLE',
        `cannot open the flash sales' ledger ${file}: ${(err as Error).message} (does another \`domicile up\` use this data folder?)`,
        { cause: err },
      );
    }
    try {
      this.loadSales(sales);
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** Records the catalog's sales (their stock may grow, never below what was sold) and reads who bought. */
  private loadSales(sales: readonly Sale[]): void {
    this.db.transaction(() => {
      for (const sale of sales) {
        const known = this.db
          .prepare<[string], { sku: string; sold: number }>('SELECT sku, sold FROM sales WHERE id = ?')
          .get(sale.id);
        if (known && known.sku !== sale.sku)
          throw new DomicileError(
            'BAD_REQUEST',
            `sale ${sale.id} sold ${known.sku} before; the catalog now says ${sale.sku}: give the new sale a new id`,
          );
        if (known && known.sold > sale.units)
          throw new DomicileError(
            'BAD_REQUEST',
            `sale ${sale.id} has sold ${known.sold} units already; the catalog cannot lower its stock to ${sale.units}`,
          );
        this.db
          .prepare(
            'INSERT INTO sales (id, sku, units) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET units = excluded.units',
          )
          .run(sale.id, sale.sku, sale.units);
      }
    })();
    for (const sale of sales) {
      const buyers = new Set(
        this.db.prepare<[string], string>('SELECT buyer_key FROM claims WHERE sale_id = ?').pluck().all(sale.id),
      );
      const ordered =
        this.db
          .prepare<[string], number>('SELECT count(*) FROM claims WHERE sale_id = ? AND ordered_at IS NOT NULL')
          .pluck()
          .get(sale.id) ?? 0;
      this.sales.set(sale.id, { sale, sold: buyers.size, ordered, buyers });
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private state(saleId: string): SaleState {
    const state = this.sales.get(saleId);
    if (!state)
      throw new DomicileError(
        'NOT_FOUND',
        `no flash sale "${saleId}"; the catalog's sales are: ${[...this.sales.keys()].join(', ') || 'none'}`,
      );
    return state;
  }

  claim(saleId: string, userId: string, buyerKey: string): Promise<Claim> {
    const state = this.state(saleId);
    if (this.broken)
      return Promise.reject(
        new DomicileError(
          'UNAVAILABLE',
          `the flash sales' ledger could not commit (${this.broken.message}); restart the gateway`,
        ),
      );
    if (state.buyers.has(buyerKey))
      return Promise.reject(
        new DomicileError('CONFLICT', `you already bought a unit in sale ${saleId}: one per buyer`, {
          details: { reason: 'already-bought' },
        }),
      );
    if (state.sold >= state.sale.units)
      return Promise.reject(
        new DomicileError('CONFLICT', `sale ${saleId} is sold out`, { details: { reason: 'sold-out' } }),
      );
    state.sold += 1;
    state.buyers.add(buyerKey);
    return this.claims.submit({ saleId, unit: state.sold, claimedAt: Date.now(), buyerKey, userId });
  }

  /** Commits a group of claims in one transaction; their buyers are answered once it is durable. */
  private commit(batch: readonly PendingOrder[]): Claim[] {
    try {
      const insert = this.db.prepare(
        'INSERT INTO claims (sale_id, buyer_key, unit, claimed_at, user_id) VALUES (?, ?, ?, ?, ?)',
      );
      const count = this.db.prepare('UPDATE sales SET sold = sold + ? WHERE id = ?');
      this.db.transaction(() => {
        const perSale = new Map<string, number>();
        for (const c of batch) {
          insert.run(c.saleId, c.buyerKey, c.unit, c.claimedAt, c.userId);
          perSale.set(c.saleId, (perSale.get(c.saleId) ?? 0) + 1);
        }
        for (const [saleId, n] of perSale) count.run(n, saleId);
      })();
    } catch (err) {
      this.broken = err as Error;
      throw new DomicileError(
        'UNAVAILABLE',
        `the flash sales' ledger could not commit: ${(err as Error).message}; nothing was sold to this request`,
        { cause: err },
      );
    }
    return batch.map((c) => ({ saleId: c.saleId, unit: c.unit, claimedAt: c.claimedAt }));
  }

  /** From memory: a sale's status page may be asked for thousands of times a second. */
  async counts(saleId: string): Promise<SaleCounts> {
    const { sale, sold, ordered } = this.state(saleId);
    return { id: sale.id, sku: sale.sku, units: sale.units, sold, remaining: sale.units - sold, ordered };
  }

  /** The oldest claims whose order is not written yet: this file has one writer. */
  async pendingOrders(limit: number, after?: PendingOrder): Promise<PendingOrder[]> {
    type Row = { sale_id: string; buyer_key: string; unit: number; claimed_at: number; user_id: string };
    const columns = 'SELECT sale_id, buyer_key, unit, claimed_at, user_id FROM claims WHERE ordered_at IS NULL';
    const rows =
      after === undefined
        ? this.db.prepare<[number], Row>(`${columns} ORDER BY claimed_at, sale_id, buyer_key LIMIT ?`).all(limit)
        : this.db
            .prepare<[number, string, string, number], Row>(
              `${columns} AND (claimed_at, sale_id, buyer_key) > (?, ?, ?) ORDER BY claimed_at, sale_id, buyer_key LIMIT ?`,
            )
            .all(after.claimedAt, after.saleId, after.buyerKey, limit);
    return rows.map((r) => ({
      saleId: r.sale_id,
      buyerKey: r.buyer_key,
      unit: r.unit,
      claimedAt: r.claimed_at,
      userId: r.user_id,
    }));
  }

  /** One writer: it holds every order it reads. */
  async takeOrders(orders: readonly PendingOrder[]): Promise<PendingOrder[]> {
    return [...orders];
  }

  async anyPending(): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM claims WHERE ordered_at IS NULL LIMIT 1').get() !== undefined;
  }

  async markOrdered(orders: readonly PendingOrder[]): Promise<void> {
    const mark = this.db.prepare(
      'UPDATE claims SET ordered_at = ?, user_id = NULL WHERE sale_id = ? AND buyer_key = ? AND ordered_at IS NULL',
    );
    const now = Date.now();
    const marked = this.db.transaction(() => orders.filter((o) => mark.run(now, o.saleId, o.buyerKey).changes === 1))();
    for (const o of marked) {
      const state = this.sales.get(o.saleId);
      if (state) state.ordered += 1;
    }
  }
}
