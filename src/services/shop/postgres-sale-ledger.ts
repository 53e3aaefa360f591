import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { DomicileError } from '../../errors/domicile-error.js';
import { Batcher } from '../../shared/batcher.js';
import { inPgTransaction, openPgPool, pgWhere } from '../../store/postgres/pg-pool.js';
import { openPgComponent } from '../../store/postgres/pg-schema-ledger.js';
import type { SchemaMigration } from '../../store/schema-runner.js';
import type { Sale } from './catalog.js';
import type { Claim, PendingOrder, SaleCounts, SaleLedger } from './sale-ledger.js';

/** Append-only. Tables named for the shop: they rest beside the directory's and the coordinator's. */
const ledgerMigrations: readonly SchemaMigration[] = [
  {
    id: 1,
    name: 'flash sales, claims, claim function',
    sql: `
    CREATE TABLE flash_sales (
      id text PRIMARY KEY, sku text NOT NULL, units integer NOT NULL,
      sold integer NOT NULL DEFAULT 0 CHECK (sold <= units),
      ordered integer NOT NULL DEFAULT 0
    );
    -- buyer_key: a keyed hash of sale and user (user_id is cleared once the order rests in the
    -- home region). writer and lease_until: which gateway writes the order, and until when no
    -- other may take it over.
    CREATE TABLE flash_sale_claims (
      sale_id text NOT NULL REFERENCES flash_sales (id),
      buyer_key text NOT NULL,
      unit integer NOT NULL,
      claimed_at bigint NOT NULL,
      user_id text,
      ordered_at bigint,
      writer text NOT NULL,
      lease_until bigint NOT NULL,
      PRIMARY KEY (sale_id, buyer_key),
      UNIQUE (sale_id, unit)
    );
    CREATE INDEX flash_sale_claims_to_order ON flash_sale_claims (claimed_at, sale_id, buyer_key) WHERE ordered_at IS NULL;
    -- A batch of claims, decided in one call: the sales' rows are locked first (in id order), so
    -- the batches of every gateway decide one after another, and the statement after the lock
    -- sees every claim committed before it (READ COMMITTED: a snapshot per statement). A buyer
    -- wins once (the first of their requests in the batch, unless they hold a claim already);
    -- units go in arrival order while stock lasts.
    CREATE FUNCTION flash_sale_claim(p_sale text[], p_buyer text[], p_user text[], p_at bigint[], p_writer text, p_lease bigint)
    -- Planned for each call: a plan cached while the claims table was small scans all of it
    -- (a hash anti-join) on every batch once it holds 100,000 claims.
    RETURNS TABLE (r_ord bigint, r_unit integer, r_outcome text) LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $fn$
    BEGIN
      PERFORM 1 FROM flash_sales s WHERE s.id = ANY (p_sale) ORDER BY s.id FOR UPDATE;
      RETURN QUERY
      WITH req AS (
        SELECT r.sale_id, r.buyer_key, r.user_id, r.claimed_at, r.ord
        FROM unnest(p_sale, p_buyer, p_user, p_at) WITH ORDINALITY AS r (sale_id, buyer_key, user_id, claimed_at, ord)
      ),
      firsts AS (
        SELECT DISTINCT ON (q.sale_id, q.buyer_key) q.* FROM req q ORDER BY q.sale_id, q.buyer_key, q.ord
      ),
      fresh AS (
        SELECT f.* FROM firsts f
        WHERE NOT EXISTS (SELECT 1 FROM flash_sale_claims c WHERE c.sale_id = f.sale_id AND c.buyer_key = f.buyer_key)
      ),
      ranked AS (
        SELECT f.*, (s.sold + row_number() OVER (PARTITION BY f.sale_id ORDER BY f.ord))::integer AS won_unit, s.units AS stock
        FROM fresh f JOIN flash_sales s ON s.id = f.sale_id
      ),
      won AS (
        INSERT INTO flash_sale_claims (sale_id, buyer_key, unit, claimed_at, user_id, writer, lease_until)
        SELECT k.sale_id, k.buyer_key, k.won_unit, k.claimed_at, k.user_id, p_writer, k.claimed_at + p_lease
        FROM ranked k WHERE k.won_unit <= k.stock
        RETURNING flash_sale_claims.sale_id, flash_sale_claims.buyer_key, flash_sale_claims.unit
      ),
      counted AS (
        UPDATE flash_sales s SET sold = s.sold + w.n
        FROM (SELECT won.sale_id, count(*)::integer AS n FROM won GROUP BY won.sale_id) w
        WHERE s.id = w.sale_id
      )
      SELECT q.ord,
        CASE WHEN w.unit IS NOT NULL AND f.ord = q.ord THEN w.unit END,
        CASE
          WHEN w.unit IS NOT NULL AND f.ord = q.ord THEN 'won'
          WHEN w.unit IS NOT NULL OR f.ord IS NULL THEN 'already-bought'
          ELSE 'sold-out'
        END
      FROM req q
      LEFT JOIN fresh f ON f.sale_id = q.sale_id AND f.buyer_key = q.buyer_key
      LEFT JOIN won w ON w.sale_id = q.sale_id AND w.buyer_key = q.buyer_key;
    END
    $fn$;
  `,
  },
];

interface Request {
  saleId: string;
  buyerKey: string;
  userId: string;
  claimedAt: number;
}

type Outcome = { unit: number; claimedAt: number } | 'sold-out' | 'already-bought';

export interface PostgresSaleLedgerOptions {
  /** The database's schema, when not the URL's search_path (tests). */
  schema?: string;
  /**
   * How long a claim is its own gateway's to write before any other gateway may take its order
   * over (default 5 s), and how long a writer holds the orders it took (default 15 s): a
   * gateway that dies after its claims commit leaves their orders to the others after that.
   */
  orphanMs?: number;
  leaseMs?: number;
}

/**
 * The flash sales' ledger in the shared PostgreSQL database (beside the directory), for any
 * number of gateways: a claim is decided by the database, one batch of claims per round trip
 * (every claim that arrived while the last batch ran: group commit, as the SQLite ledger's),
 * so no gateway can oversell or sell one buyer twice whatever the others do.
 *
 * Each gateway remembers what it learnt (a sale sold out, a buyer who won through it) and
 * refuses those at once without a round trip: a sale never un-sells.
 *
 * The claims are the orders' outbox, shared too: a claim's order is written by the gateway
 * that took it, or, once its lease is over (that gateway died, or is slow), by any other;
 * writing an order twice is harmless (the order's key is the sale's, and the same order is
 * recognised), and it is marked written once.
 */
export class PostgresSaleLedger implements SaleLedger {
  /** This gateway as a writer of orders. */
  readonly writer = randomUUID();
  readonly where: string;
  private readonly pool: pg.Pool;
  private readonly sales = new Map<
    string,
    {
      sale: Sale;
      soldOut: boolean;
      /** Buyers this gateway has seen win. */
      buyers: Set<string>;
      /** Once sold out, every buyer of the sale (final then: no one buys any more), read once. */
      allBuyers?: Promise<Set<string>> | undefined;
    }
  >();
  private readonly claims: Batcher<Request, Outcome>;
  private readonly orphanMs: number;
  private readonly leaseMs: number;
  /** counts(), shared by the requests of the same 100 ms (a sale's status page is asked for thousands of times a second). */
  private readonly recentCounts = new Map<string, { at: number; counts: Promise<SaleCounts> }>();

  private constructor(url: string, options: PostgresSaleLedgerOptions) {
    this.where = pgWhere(url);
    this.pool = openPgPool({ url, schema: options.schema, size: 4, what: "the flash sales' ledger" });
    this.orphanMs = options.orphanMs ?? 5_000;
    this.leaseMs = options.leaseMs ?? 15_000;
    // One batch in flight: batches of one sale take turns on its row anyway, and those that
    // arrive meanwhile leave together as the next.
    this.claims = new Batcher((batch) => this.decide(batch), { maxBatch: 2_000 });
  }

  static async open(url: string, sales: readonly Sale[], options: PostgresSaleLedgerOptions = {}) {
    const ledger = new PostgresSaleLedger(url, options);
    return openPgComponent(ledger, {
      pool: ledger.pool,
      what: `the flash sales' ledger at ${ledger.where}`,
      migrations: ledgerMigrations,
      ledger: 'flash_sale_schema_migrations',
      ready: () => ledger.loadSales(sales),
    });
  }

  /** Records the catalog's sales (their stock may grow, never below what was sold). */
  private async loadSales(sales: readonly Sale[]): Promise<void> {
    await inPgTransaction(this.pool, async (client) => {
      for (const sale of sales) {
        // Every gateway starts with the same catalog: the first inserts, the others find it.
        await client.query('INSERT INTO flash_sales (id, sku, units) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [
          sale.id,
          sale.sku,
          sale.units,
        ]);
        const known = (
          await client.query<{ sku: string; sold: number; units: number }>(
            'SELECT sku, sold, units FROM flash_sales WHERE id = $1 FOR UPDATE',
            [sale.id],
          )
        ).rows[0]!;
        if (known.sku !== sale.sku)
          throw new DomicileError(
            'BAD_REQUEST',
            `sale ${sale.id} sold ${known.sku} before; the catalog now says ${sale.sku}: give the new sale a new id`,
          );
        if (known.sold > sale.units)
          throw new DomicileError(
            'BAD_REQUEST',
            `sale ${sale.id} has sold ${known.sold} units already; the catalog cannot lower its stock to ${sale.units}`,
          );
        if (known.units !== sale.units)
          await client.query('UPDATE flash_sales SET units = $2 WHERE id = $1', [sale.id, sale.units]);
        this.sales.set(sale.id, { sale, soldOut: known.sold >= sale.units, buyers: new Set() });
      }
    });
  }

  async close(): Promise<void> {
    this.claims.leaveNow();
    await this.pool.end().catch(() => undefined);
  }

  private state(saleId: string) {
    const state = this.sales.get(saleId);
    if (!state)
      throw new DomicileError(
        'NOT_FOUND',
        `no flash sale "${saleId}"; the catalog's sales are: ${[...this.sales.keys()].join(', ') || 'none'}`,
      );
    return state;
  }

  async claim(saleId: string, userId: string, buyerKey: string): Promise<Claim> {
    const state = this.state(saleId);
    const alreadyBought = () =>
      new DomicileError('CONFLICT', `you already bought a unit in sale ${saleId}: one per buyer`, {
        details: { reason: 'already-bought' },
      });
    const soldOut = () =>
      new DomicileError('CONFLICT', `sale ${saleId} is sold out`, { details: { reason: 'sold-out' } });
    if (state.buyers.has(buyerKey)) throw alreadyBought();
    // Sold out: a buyer who won through another gateway still hears that they bought.
    const afterSellOut = async () => {
      state.allBuyers ??= this.buyersOf(saleId).catch((err: unknown) => {
        state.allBuyers = undefined;
        throw err;
      });
      return (await state.allBuyers).has(buyerKey) ? alreadyBought() : soldOut();
    };
    if (state.soldOut) throw await afterSellOut();
    const outcome = await this.claims.submit({ saleId, buyerKey, userId, claimedAt: Date.now() });
    if (outcome === 'sold-out') {
      state.soldOut = true;
      throw await afterSellOut();
    }
    state.buyers.add(buyerKey);
    if (outcome === 'already-bought') throw alreadyBought();
    return { saleId, unit: outcome.unit, claimedAt: outcome.claimedAt };
  }

  private async buyersOf(saleId: string): Promise<Set<string>> {
    const rows = await this.q<{ buyer_key: string }>('SELECT buyer_key FROM flash_sale_claims WHERE sale_id = $1', [
      saleId,
    ]);
    return new Set(rows.map((r) => r.buyer_key));
  }

  /** One batch of claims, one round trip: the database answers each in the batch's order. */
  private async decide(batch: readonly Request[]): Promise<Outcome[]> {
    let rows: Array<{ r_ord: number; r_unit: number | null; r_outcome: string }>;
    try {
      rows = (
        await this.pool.query<{ r_ord: number; r_unit: number | null; r_outcome: string }>(
          'SELECT r_ord, r_unit, r_outcome FROM flash_sale_claim($1::text[], $2::text[], $3::text[], $4::bigint[], $5, $6)',
          [
            batch.map((r) => r.saleId),
            batch.map((r) => r.buyerKey),
            batch.map((r) => r.userId),
            batch.map((r) => r.claimedAt),
            this.writer,
            this.orphanMs,
          ],
        )
      ).rows;
    } catch (err) {
      throw new DomicileError(
        'UNAVAILABLE',
        `the flash sales' ledger at ${this.where} could not decide: ${(err as Error).message}; nothing was sold to this request`,
        { cause: err },
      );
    }
    const outcomes: Outcome[] = new Array(batch.length);
    for (const row of rows) {
      const request = batch[row.r_ord - 1]!;
      outcomes[row.r_ord - 1] =
        row.r_outcome === 'won'
          ? { unit: row.r_unit!, claimedAt: request.claimedAt }
          : (row.r_outcome as 'sold-out' | 'already-bought');
    }
    return outcomes;
  }

  counts(saleId: string): Promise<SaleCounts> {
    this.state(saleId);
    const now = Date.now();
    const recent = this.recentCounts.get(saleId);
    if (recent && now - recent.at < 100) return recent.counts;
    const counts = this.q<{ id: string; sku: string; units: number; sold: number; ordered: number }>(
      'SELECT id, sku, units, sold, ordered FROM flash_sales WHERE id = $1',
      [saleId],
    ).then(([r]) => ({
      id: r!.id,
      sku: r!.sku,
      units: r!.units,
      sold: r!.sold,
      remaining: r!.units - r!.sold,
      ordered: r!.ordered,
    }));
    this.recentCounts.set(saleId, { at: now, counts });
    counts.catch(() => this.recentCounts.delete(saleId));
    return counts;
  }

  async pendingOrders(limit: number, after?: PendingOrder): Promise<PendingOrder[]> {
    type Row = { sale_id: string; buyer_key: string; unit: number; claimed_at: number; user_id: string };
    const mine = 'ordered_at IS NULL AND (writer = $1 OR lease_until < $2)';
    const columns = 'SELECT sale_id, buyer_key, unit, claimed_at, user_id FROM flash_sale_claims';
    const order = 'ORDER BY claimed_at, sale_id, buyer_key';
    const rows =
      after === undefined
        ? await this.q<Row>(`${columns} WHERE ${mine} ${order} LIMIT $3`, [this.writer, Date.now(), limit])
        : await this.q<Row>(
            `${columns} WHERE ${mine} AND (claimed_at, sale_id, buyer_key) > ($3, $4, $5) ${order} LIMIT $6`,
            [this.writer, Date.now(), after.claimedAt, after.saleId, after.buyerKey, limit],
          );
    return rows.map((r) => ({
      saleId: r.sale_id,
      buyerKey: r.buyer_key,
      unit: r.unit,
      claimedAt: r.claimed_at,
      userId: r.user_id,
    }));
  }

  /** Leases the orders still free (this writer's, or past their lease): rows another writer is taking are skipped, not waited for. */
  async takeOrders(orders: readonly PendingOrder[]): Promise<PendingOrder[]> {
    if (orders.length === 0) return [];
    const now = Date.now();
    const taken = await this.q<{ sale_id: string; buyer_key: string }>(
      `WITH free AS (
         SELECT c.sale_id, c.buyer_key FROM flash_sale_claims c
         JOIN unnest($4::text[], $5::text[]) AS t (sale_id, buyer_key) ON c.sale_id = t.sale_id AND c.buyer_key = t.buyer_key
         WHERE c.ordered_at IS NULL AND (c.writer = $1 OR c.lease_until < $2)
         FOR UPDATE OF c SKIP LOCKED
       )
       UPDATE flash_sale_claims c SET writer = $1, lease_until = $3
       FROM free f WHERE c.sale_id = f.sale_id AND c.buyer_key = f.buyer_key
       RETURNING c.sale_id, c.buyer_key`,
      [this.writer, now, now + this.leaseMs, orders.map((o) => o.saleId), orders.map((o) => o.buyerKey)],
    );
    const held = new Set(taken.map((r) => `${r.sale_id}\u0000${r.buyer_key}`));
    return orders.filter((o) => held.has(`${o.saleId}\u0000${o.buyerKey}`));
  }

  async markOrdered(orders: readonly PendingOrder[]): Promise<void> {
    if (orders.length === 0) return;
    // Rows locked in key order (two writers whose leases overlapped cannot deadlock), each
    // counted once: by the writer that marks it first.
    await this.q(
      `WITH target AS (
         SELECT c.sale_id, c.buyer_key FROM flash_sale_claims c
         JOIN unnest($2::text[], $3::text[]) AS t (sale_id, buyer_key) ON c.sale_id = t.sale_id AND c.buyer_key = t.buyer_key
         WHERE c.ordered_at IS NULL ORDER BY c.sale_id, c.buyer_key FOR UPDATE OF c
       ),
       marked AS (
         UPDATE flash_sale_claims c SET ordered_at = $1, user_id = NULL
         FROM target t WHERE c.sale_id = t.sale_id AND c.buyer_key = t.buyer_key AND c.ordered_at IS NULL
         RETURNING c.sale_id
       )
       UPDATE flash_sales s SET ordered = s.ordered + m.n
       FROM (SELECT sale_id, count(*)::integer AS n FROM marked GROUP BY sale_id) m WHERE s.id = m.sale_id`,
      [Date.now(), orders.map((o) => o.saleId), orders.map((o) => o.buyerKey)],
    );
  }

  async anyPending(): Promise<boolean> {
    return (
      await this.q<{ pending: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM flash_sale_claims WHERE ordered_at IS NULL) AS pending',
      )
    )[0]!.pending;
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw new DomicileError(
        'UNAVAILABLE',
        `the flash sales' ledger at ${this.where} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
