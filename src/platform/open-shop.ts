import { join } from 'node:path';
import { isDomicileError } from '../errors/domicile-error.js';
import { findCategory } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import { type Catalog, loadCatalogFile } from '../services/shop/catalog.js';
import { FlashSales, type SaleOrder } from '../services/shop/flash-sales.js';
import { PostgresSaleLedger } from '../services/shop/postgres-sale-ledger.js';
import type { SaleLedger } from '../services/shop/sale-ledger.js';
import { SqliteSaleLedger } from '../services/shop/sqlite-sale-ledger.js';
import { killAtFault } from '../shared/fault-injection.js';
import { packagedFile } from '../shared/packaged-file.js';
import { type HomeRouting, routeToHome } from './route-to-home.js';

/** The Mi store of a platform: its catalog, and its flash sales when this gateway runs them. */
export interface Shop {
  catalog: Catalog;
  sales: FlashSales | undefined;
  /** Why this gateway sells nothing, when it does not. */
  noSales: string | undefined;
}

/** What the shop needs of the platform that opens it (platform.ts imports this file, so this file names only what it uses). */
export interface ShopHost extends HomeRouting {
  readonly policy: Policy;
  readonly dataDir: string;
  readonly directoryUrl: string | undefined;
  readonly secrets: { readonly indexKey: string };
}

/** The catalog that ships with the scenario. */
export const defaultCatalogFile = packagedFile('examples', 'catalog.yaml');

/**
 * Opens the shop: the catalog, and the flash sales' ledger: in the data folder, or, for a
 * gateway that shares its PostgreSQL directory with others, in that database, where every
 * gateway claims against the same stock and writes the orders any of them left.
 */
export async function openShop(
  platform: ShopHost,
  options: {
    catalog?: Catalog | undefined;
    readOnly?: boolean;
    durability?: 'full' | 'normal';
    log?: (line: string) => void;
  },
): Promise<Shop> {
  const catalog = options.catalog ?? (await loadCatalogFile(defaultCatalogFile));
  const closed = (noSales: string): Shop => ({ catalog, sales: undefined, noSales });
  if (options.readOnly) return closed('the platform is open read-only');
  if (catalog.sales.length === 0) return closed('the catalog has no sales');
  if (!findCategory(platform.policy, 'shop', 'orders'))
    return closed(`policy "${platform.policy.name}" has no shop service with an orders category to keep the orders in`);
  const ledger: SaleLedger = platform.directoryUrl
    ? await PostgresSaleLedger.open(platform.directoryUrl, catalog.sales)
    : new SqliteSaleLedger(join(platform.dataDir, 'shop', 'flash-sales.db'), catalog.sales, {
        durability: options.durability ?? 'full',
      });
  const sales = new FlashSales({
    catalog,
    ledger,
    buyerKeySecret: platform.secrets.indexKey,
    log: options.log,
    // A gateway killed between its claim's commit and its order (the shared ledger's kill test).
    afterClaim: () => killAtFault('flash-sale-claimed'),
    writeOrder: (userId, order) =>
      routeToHome(platform, userId, 'shop', async (client, ref) => {
        const put = (ifVersion: number) =>
          client.putRecord({ ...ref, collection: 'orders', key: order.key, value: order.value, ifVersion });
        try {
          // Nearly always the first write under the sale's key: no read before it.
          await put(0);
          return;
        } catch (err) {
          if (!isDomicileError(err, 'CONFLICT')) throw err;
        }
        // Written before a crash (between the write and its mark in the ledger): the same order is there.
        const existing = await client.getRecord({ ...ref, collection: 'orders', key: order.key });
        const same = existing?.value as Partial<SaleOrder['value']> | null | undefined;
        if (
          same &&
          same.saleId === order.value.saleId &&
          same.unit === order.value.unit &&
          same.claimedAt === order.value.claimedAt
        )
          return;
        // Anything else under the sale's key is not the sale's: its order takes the place.
        await put(existing?.version ?? 0);
      }),
  });
  return { catalog, sales, noSales: undefined };
}
