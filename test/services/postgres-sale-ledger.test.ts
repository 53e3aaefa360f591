import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresSchemas } from '../../bench/postgres-regions.js';
import { isDomicileError } from '../../src/errors/domicile-error.js';
import { type Catalog, parseCatalog } from '../../src/services/shop/catalog.js';
import { FlashSales, type SaleOrder } from '../../src/services/shop/flash-sales.js';
import { PostgresSaleLedger } from '../../src/services/shop/postgres-sale-ledger.js';
import { testPostgresUrl } from '../support/postgres.js';

const products = [
  { sku: 'redmi-1s', name: 'Redmi 1S', description: 'the phone', price: { amount: 599900, currency: 'INR' } },
];

function catalogWith(id: string, units: number): Catalog {
  return parseCatalog({ products, sales: [{ id, sku: 'redmi-1s', units }] }, 'test-catalog.yaml');
}

/** Orders as a home region keeps them: one record per user under the sale's key; a second write of the same order is no new record. */
class Regions {
  readonly orders = new Map<string, SaleOrder>();
  writes = 0;
  write = async (userId: string, order: SaleOrder): Promise<void> => {
    this.writes += 1;
    const there = this.orders.get(`${userId}/${order.key}`);
    if (there && there.value.unit !== order.value.unit) throw new Error(`user ${userId} has two units`);
    this.orders.set(`${userId}/${order.key}`, order);
  };
}

/**
 * The flash sales' ledger in PostgreSQL, shared by several gateways (FlashSales instances, each
 * with its own ledger connection, as separate processes would have): the database decides,
 * so the stock is sold exactly once, one unit per buyer, and the orders of a gateway that dies
 * after its claims commit are written by another.
 */
describe('flash sales on a shared PostgreSQL ledger', () => {
  let schema: string;
  let drop: (() => Promise<void>) | undefined;
  const open: Array<{ close: () => Promise<void> }> = [];
  beforeAll(async () => {
    const made = await postgresSchemas(testPostgresUrl, ['sales']);
    schema = made.schemas.sales!;
    drop = made.drop;
  });
  afterAll(async () => {
    for (const o of open) await o.close();
    await drop?.();
  });

  async function gateway(catalog: Catalog, regions: Regions, options: { orphanMs?: number } = {}) {
    const ledger = await PostgresSaleLedger.open(testPostgresUrl, catalog.sales, { schema, ...options });
    const sales = new FlashSales({
      catalog,
      ledger,
      buyerKeySecret: 'k'.repeat(32),
      writeOrder: regions.write,
      quietMs: 20,
    });
    open.push(sales);
    return sales;
  }

  async function claims(): Promise<Array<{ unit: number; buyer_key: string; ordered_at: number | null }>> {
    const client = new pg.Client({ connectionString: testPostgresUrl, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      return (
        await client.query('SELECT unit, buyer_key, ordered_at FROM flash_sale_claims WHERE sale_id = $1', ['race'])
      ).rows;
    } finally {
      await client.end();
    }
  }

  it('sells the stock exactly once across two gateways racing many buyers: no oversell, no buyer twice', async () => {
    const units = 300;
    const catalog = catalogWith('race', units);
    const regions = new Regions();
    const a = await gateway(catalog, regions);
    const b = await gateway(catalog, regions);
    // 500 buyers, each trying twice, once through each gateway, interleaved.
    const buyers = Array.from({ length: 500 }, (_, i) => `u_${i}`);
    const attempts = buyers.flatMap((u, i) =>
      i % 2 === 0 ? [a.claim('race', u), b.claim('race', u)] : [b.claim('race', u), a.claim('race', u)],
    );
    const results = await Promise.allSettled(attempts);
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ buyer: buyers[i >> 1]!, ...r.value }] : []));
    const reasons = results.flatMap((r) =>
      r.status === 'rejected' && isDomicileError(r.reason, 'CONFLICT')
        ? [(r.reason as { details?: { reason?: string } }).details?.reason]
        : [],
    );
    expect(results.filter((r) => r.status === 'rejected' && !isDomicileError(r.reason, 'CONFLICT'))).toEqual([]);
    expect(won).toHaveLength(units);
    expect(new Set(won.map((w) => w.buyer)).size).toBe(units);
    expect(won.map((w) => w.unit).sort((x, y) => x - y)).toEqual(Array.from({ length: units }, (_, i) => i + 1));
    // Each buyer's second try: already-bought for winners; the rest are sold out.
    expect(reasons.filter((r) => r === 'already-bought')).toHaveLength(units);
    expect(reasons.filter((r) => r === 'sold-out')).toHaveLength(2 * buyers.length - 2 * units);
    expect(await a.counts('race')).toMatchObject({ units, sold: units, remaining: 0 });

    // Every unit has its order in its buyer's home region, once; the ledger agrees.
    expect(await a.drained(20_000)).toBe(true);
    expect(regions.orders.size).toBe(units);
    expect([...regions.orders.keys()].sort()).toEqual(won.map((w) => `${w.buyer}/sale-race`).sort());
    const rows = await claims();
    expect(rows).toHaveLength(units);
    expect(rows.every((r) => r.ordered_at !== null)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 150)); // past counts()' 100 ms
    expect(await b.counts('race')).toMatchObject({ sold: units, ordered: units, pendingOrders: 0 });
  });

  it('writes the orders of a gateway that died after its claims committed, through another gateway', async () => {
    const catalog = catalogWith('orphans', 50);
    const regions = new Regions();
    // Gateway A: its claims commit, and it dies before any order is written (no writer ever runs).
    const dying = await PostgresSaleLedger.open(testPostgresUrl, catalog.sales, { schema, orphanMs: 300 });
    const buyers = Array.from({ length: 40 }, (_, i) => `dead_${i}`);
    const claimed = await Promise.all(buyers.map((u, i) => dying.claim('orphans', u, `key-${i}`)));
    expect(claimed.map((c) => c.unit).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await dying.close();

    // Gateway B: sells the rest, and takes A's orders over once their lease is past.
    const b = await gateway(catalog, regions, { orphanMs: 300 });
    const more = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => b.claim('orphans', `live_${i}`)));
    expect(more.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(await b.drained(20_000)).toBe(true);
    for (const u of buyers) expect(regions.orders.get(`${u}/sale-orphans`)?.value.saleId).toBe('orphans');
    expect(regions.orders.size).toBe(50);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await b.counts('orphans')).toMatchObject({ sold: 50, ordered: 50, pendingOrders: 0 });
  });

  it('refuses a catalog that lowers a sale below what it sold, or changes its product, and an unknown sale', async () => {
    const regions = new Regions();
    const a = await gateway(catalogWith('firm', 3), regions);
    await a.claim('firm', 'x');
    await a.claim('firm', 'y');
    await expect(PostgresSaleLedger.open(testPostgresUrl, catalogWith('firm', 1).sales, { schema })).rejects.toThrow(
      /sale firm has sold 2 units already; the catalog cannot lower its stock to 1/,
    );
    await expect(a.claim('nope', 'x')).rejects.toThrow(/no flash sale "nope"/);
    // Another gateway with a grown stock: both now sell up to it.
    const b = await gateway(catalogWith('firm', 4), regions);
    await b.claim('firm', 'z');
    await b.claim('firm', 'w');
    await expect(a.claim('firm', 'v')).rejects.toThrow(/sale firm is sold out/);
  });
});
