import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Buyer, seedBuyers } from '../../bench/seed-buyers.js';
import { DomicileError } from '../../src/errors/domicile-error.js';
import { buildGateway } from '../../src/gateway/build-gateway.js';
import { Platform } from '../../src/platform/platform.js';
import { loadPolicyFile } from '../../src/policy/load-policy.js';
import { type Catalog, parseCatalog } from '../../src/services/shop/catalog.js';
import { FlashSales, type SaleOrder } from '../../src/services/shop/flash-sales.js';
import { SqliteSaleLedger } from '../../src/services/shop/sqlite-sale-ledger.js';
import { tempDir } from '../support/temp-dir.js';
import { examplesDir, liftedAuthThrottle } from '../support/test-platform.js';

const products = [
  { sku: 'redmi-1s', name: 'Redmi 1S', price: { amount: 599900, currency: 'INR' } },
  { sku: 'mi-band', name: 'Mi Band', price: { amount: 99900, currency: 'INR' } },
];

function catalogWith(units: number): Catalog {
  return parseCatalog({ products, sales: [{ id: 'small-sale', sku: 'redmi-1s', units }] }, 'test-catalog.yaml');
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

describe('the Mi store: catalog, edge cache and a flash sale through the gateway', () => {
  const data = tempDir('shop');
  const open: Array<{ close: () => Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  afterAll(() => data.remove());

  async function start(catalog: Catalog, dir = data.path) {
    const policy = await loadPolicyFile(join(examplesDir, 'phase1.yaml'));
    const platform = await Platform.open({ policy, dataDir: dir, durability: 'normal', catalog });
    const app = await buildGateway(platform, { throttle: liftedAuthThrottle });
    const handle = {
      platform,
      app,
      close: async () => {
        await app.close();
        await platform.close();
      },
    };
    open.push(handle);
    return handle;
  }

  it('serves the catalog publicly with an ETag, from the edge cache once stored, and 304 to a client that has it', async () => {
    const { app, platform } = await start(catalogWith(10), join(data.path, 'catalog'));
    const first = await app.inject({ method: 'GET', url: '/v1/catalog' });
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('public, max-age=60');
    expect(first.headers['x-cache']).toBe('MISS');
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.json().products.map((p: { sku: string }) => p.sku)).toEqual(['redmi-1s', 'mi-band']);
    const second = await app.inject({ method: 'GET', url: '/v1/catalog' });
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toBe(first.body);
    expect(second.headers.etag).toBe(etag);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/catalog', headers: { 'if-none-match': etag } })).statusCode,
    ).toBe(304);
    // A product, and an unknown one.
    const band = await app.inject({ method: 'GET', url: '/v1/catalog/mi-band' });
    expect(band.json()).toMatchObject({ sku: 'mi-band', price: { amount: 99900 } });
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v1/catalog/mi-band',
          headers: { 'if-none-match': band.headers.etag as string },
        })
      ).statusCode,
    ).toBe(304);
    const none = await app.inject({ method: 'GET', url: '/v1/catalog/mi-5' });
    expect(none.statusCode).toBe(404);
    expect(none.json().error.message).toMatch(/no product "mi-5"/);
    expect(none.headers['cache-control']).toBe('no-store');
    const stats = (
      await app.inject({ method: 'GET', url: '/v1/ops/edge-cache', headers: auth(platform.secrets.operatorToken) })
    ).json();
    // Three hits: the list again, and the two 304s answered from the cache.
    expect(stats).toMatchObject({ hits: 3, stores: 2 });
  });

  it('never stores a personal response: everything a user reads is private, no-store, and the cache refuses it', async () => {
    const { app, platform } = await start(catalogWith(10), join(data.path, 'personal'));
    const [buyer] = await seedBuyers(platform, 1, ['IN']);
    const token = buyer!.token;
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/v1/me/shop/cart/c1',
          headers: auth(token),
          payload: { sku: 'mi-band', qty: 1 },
        })
      ).statusCode,
    ).toBe(200);
    const statsBefore = (
      await app.inject({ method: 'GET', url: '/v1/ops/edge-cache', headers: auth(platform.secrets.operatorToken) })
    ).json();
    const personal = [
      '/v1/me',
      '/v1/me/shop/cart/c1',
      '/v1/me/shop/cart',
      '/v1/me/consents',
      '/v1/me/devices',
      '/v1/me/export',
    ];
    for (const url of personal) {
      for (let i = 0; i < 2; i++) {
        const res = await app.inject({ method: 'GET', url, headers: auth(token) });
        expect(res.statusCode, url).toBe(200);
        expect(res.headers['cache-control'], url).toBe('private, no-store');
        expect(res.headers['x-cache'], url).toBeUndefined();
      }
    }
    // Without a credential too (an error, but through the same edge): nothing stored.
    for (const url of personal)
      expect((await app.inject({ method: 'GET', url })).headers['cache-control']).toMatch(/no-store/);
    const stats = (
      await app.inject({ method: 'GET', url: '/v1/ops/edge-cache', headers: auth(platform.secrets.operatorToken) })
    ).json();
    expect(stats.stores).toBe(statsBefore.stores);
    expect(stats.entries).toBe(statsBefore.entries);
    expect(stats.refused).toBeGreaterThanOrEqual(statsBefore.refused + personal.length);
  });

  it("sells a fixed stock first come, first served, one unit per buyer, and writes each order in the buyer's home region", async () => {
    const dir = join(data.path, 'sale');
    let shop = await start(catalogWith(40), dir);
    const buyers = await seedBuyers(shop.platform, 50, ['IN', 'SG', 'US', 'CN', 'MY']);
    const claim = (b: Buyer) =>
      shop.app.inject({ method: 'POST', url: '/v1/shop/sales/small-sale/claims', headers: auth(b.token) });
    // Every buyer at once, and ten of them twice.
    const answers = await Promise.all(
      [...buyers, ...buyers.slice(0, 10)].map(async (b) => ({ b, res: await claim(b) })),
    );
    const won = answers.filter((a) => a.res.statusCode === 201);
    expect(won).toHaveLength(40);
    expect(new Set(won.map((a) => a.b.userId)).size).toBe(40);
    expect(won.map((a) => a.res.json().unit).sort((x: number, y: number) => x - y)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const refused = answers.filter((a) => a.res.statusCode !== 201);
    expect(refused.every((a) => a.res.statusCode === 409)).toBe(true);
    expect(refused.filter((a) => a.res.json().error.details.reason === 'sold-out').length).toBeGreaterThanOrEqual(10);
    expect(refused.filter((a) => a.res.json().error.details.reason === 'already-bought').length).toBeGreaterThanOrEqual(
      1,
    );

    // Each winner's order rests in their shop home; nobody else has one.
    expect(await shop.platform.shop.sales!.drained(20_000)).toBe(true);
    const winners = new Set(won.map((a) => a.b.userId));
    for (const b of buyers) {
      const order = await shop.app.inject({
        method: 'GET',
        url: '/v1/me/shop/orders/sale-small-sale',
        headers: auth(b.token),
      });
      if (winners.has(b.userId)) {
        expect(order.statusCode).toBe(200);
        expect(order.json().value).toMatchObject({ saleId: 'small-sale', sku: 'redmi-1s', status: 'confirmed' });
      } else {
        expect(order.statusCode).toBe(404);
      }
    }
    const counts = (
      await shop.app.inject({
        method: 'GET',
        url: '/v1/ops/shop/sales/small-sale',
        headers: auth(shop.platform.secrets.operatorToken),
      })
    ).json();
    expect(counts).toMatchObject({ units: 40, sold: 40, remaining: 0, ordered: 40, pendingOrders: 0 });
    expect((await shop.app.inject({ method: 'GET', url: '/v1/shop/sales/small-sale' })).json()).toMatchObject({
      remaining: 0,
      soldOut: true,
    });

    // After a restart the ledger still knows: sold out, and who bought.
    await open.pop()!.close();
    shop = await start(catalogWith(40), dir);
    expect((await claim(buyers.find((b) => winners.has(b.userId))!)).json().error.details.reason).toBe(
      'already-bought',
    );
    expect((await claim(buyers.find((b) => !winners.has(b.userId))!)).json().error.details.reason).toBe('sold-out');
  });

  it('names what is wrong: an unknown sale, no credential, a catalog that cannot be', async () => {
    const { app, platform } = await start(catalogWith(5), join(data.path, 'errors'));
    const [buyer, other] = await seedBuyers(platform, 2, ['IN']);
    const unknown = await app.inject({
      method: 'POST',
      url: '/v1/shop/sales/no-such-sale/claims',
      headers: auth(buyer!.token),
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.message).toMatch(/no flash sale "no-such-sale"; the catalog's sales are: small-sale/);
    expect((await app.inject({ method: 'POST', url: '/v1/shop/sales/small-sale/claims' })).statusCode).toBe(401);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/shop/sales/Bad_Id/claims', headers: auth(buyer!.token) }))
        .statusCode,
    ).toBe(400);
    expect(() => parseCatalog({ products: [...products, products[0]] }, 'c.yaml')).toThrow(
      /product redmi-1s is listed twice/,
    );
    expect(() => parseCatalog({ products, sales: [{ id: 's', sku: 'mi-5', units: 1 }] }, 'c.yaml')).toThrow(
      /sale s sells "mi-5", which is not a product/,
    );
    expect(() =>
      parseCatalog({ products: [{ ...products[0], price: { amount: -1, currency: 'inr' } }] }, 'c.yaml'),
    ).toThrow(/products\.0\.price\.amount.*products\.0\.price\.currency: an ISO 4217 code/s);
    // A restart that lowers a sale's stock below what it sold is refused.
    for (const b of [buyer!, other!])
      expect(
        (await app.inject({ method: 'POST', url: '/v1/shop/sales/small-sale/claims', headers: auth(b.token) }))
          .statusCode,
      ).toBe(201);
    await open.pop()!.close();
    await expect(
      start(
        parseCatalog({ products, sales: [{ id: 'small-sale', sku: 'redmi-1s', units: 1 }] }, 'c.yaml'),
        join(data.path, 'errors'),
      ),
    ).rejects.toThrow(/sale small-sale has sold 2 units already; the catalog cannot lower its stock to 1/);
  });
});

describe('flash sale orders', () => {
  const data = tempDir('sale-orders');
  afterAll(() => data.remove());

  it('are written once each, and retried until the home region takes them: no won unit without its order', async () => {
    const catalog = catalogWith(20);
    const file = join(data.path, 'ledger.db');
    const written = new Map<string, SaleOrder>();
    let failing = true;
    const sales = new FlashSales({
      catalog,
      ledger: new SqliteSaleLedger(file, catalog.sales, { durability: 'normal' }),
      buyerKeySecret: 'k'.repeat(32),
      writeOrder: async (userId, order) => {
        if (failing) throw new DomicileError('UNAVAILABLE', 'region in-mumbai cannot be reached');
        if (written.has(userId)) throw new DomicileError('CONFLICT', 'exists');
        written.set(userId, order);
      },
    });
    const users = Array.from({ length: 25 }, (_, i) => `u_${i}`);
    const results = await Promise.allSettled(users.map((u) => sales.claim('small-sale', u)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
    expect(await sales.drained(300)).toBe(false);
    expect(await sales.counts('small-sale')).toMatchObject({
      sold: 20,
      ordered: 0,
      pendingOrders: 20,
      lastError: expect.stringMatching(/cannot be reached; it is retried/),
    });
    await sales.close();

    // The next process finds the claims and writes their orders once the region answers.
    failing = false;
    const again = new FlashSales({
      catalog,
      ledger: new SqliteSaleLedger(file, catalog.sales, { durability: 'normal' }),
      buyerKeySecret: 'k'.repeat(32),
      writeOrder: async (userId, order) => {
        if (written.has(userId)) throw new DomicileError('CONFLICT', 'exists');
        written.set(userId, order);
      },
    });
    expect(await again.drained(10_000)).toBe(true);
    expect(written.size).toBe(20);
    expect([...written.values()].map((o) => o.value.unit).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(await again.counts('small-sale')).toMatchObject({
      sold: 20,
      ordered: 20,
      pendingOrders: 0,
      lastError: null,
    });
    await again.close();
  });

  it('are not held back by orders a region refuses: the others are written', async () => {
    const catalog = catalogWith(600);
    const written = new Set<string>();
    const sales = new FlashSales({
      catalog,
      ledger: new SqliteSaleLedger(join(data.path, 'stall.db'), catalog.sales, { durability: 'normal' }),
      buyerKeySecret: 'k'.repeat(32),
      writeOrder: async (userId) => {
        // The first 520 buyers' region is down: more than a page of orders that fail.
        if (Number(userId.slice(2)) < 520)
          throw new DomicileError('UNAVAILABLE', 'region cn-beijing cannot be reached');
        written.add(userId);
      },
    });
    await Promise.all(Array.from({ length: 600 }, (_, i) => sales.claim('small-sale', `u_${i}`)));
    // Every order that can be written is, whatever fails before it.
    const deadline = Date.now() + 10_000;
    while (written.size < 80 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(written.size).toBe(80);
    expect(await sales.counts('small-sale')).toMatchObject({ sold: 600, ordered: 80, pendingOrders: 520 });
    await sales.close();
  });
});
