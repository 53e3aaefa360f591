import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Platform } from '../src/platform/platform.js';
import { routeToHome } from '../src/platform/route-to-home.js';
import { loadPolicyFile } from '../src/policy/load-policy.js';
import { parseCatalog } from '../src/services/shop/catalog.js';
import { saleOrderKey } from '../src/services/shop/flash-sales.js';
import { packageRoot } from '../src/shared/packaged-file.js';
import type { Figure, Machine } from './bench-output.js';
import { machine } from './bench-output.js';
import { benchCatalog, drive, markets, operatorGet, type SaleOutcome, shuffled } from './flash-sale-bench.js';
import { inSchema, onPostgres, postgresSchemas } from './postgres-regions.js';
import { type Buyer, seedBuyers } from './seed-buyers.js';
import { profileFlags, type SpawnedServer, spawnServer, syntheticClientFlags } from './spawn-server.js';
import { tempFolder } from './temp-folder.js';

export interface FlashSaleGatewaysOptions {
  units: number;
  buyersPerUnit: number;
  retryShare: number;
  connections: number;
  /** Runs with 1, 2, … up to this many gateway processes. */
  gateways: number;
  postgresUrl: string;
  log: (line: string) => void;
}

/** One sale through `gateways` processes sharing the PostgreSQL directory (and the sale's ledger in it). */
export interface SharedSaleRun extends SaleOutcome {
  gateways: number;
  saleId: string;
  oversells: number;
  doubleSales: number;
  orders: { written: number; lost: number; drainMs: number; misplaced: number };
}

export interface FlashSaleGatewaysReport {
  machine: Machine;
  options: Omit<FlashSaleGatewaysOptions, 'log' | 'postgresUrl'>;
  bare: { requestsPerSecond: number; p50Ms: number; p99Ms: number };
  runs: SharedSaleRun[];
  figures: Figure[];
}

/**
 * `domicile bench flash-sale --gateways N`: the production topology of the sale. The
 * directory, the sale's ledger and every region rest in PostgreSQL (a schema each on one
 * server); N `domicile up` processes share them, with the same secrets and region keys, and the
 * load generator spreads the claims across them (one autocannon per gateway, in this process).
 * One sale per N (1, 2, … N) to the same buyers, each counted as the SQLite bench counts:
 * units sold per second, time to sell out, oversells and double sales, and every order in its
 * buyer's home region. Baseline: the bare Fastify server under the same load generator.
 */
export async function flashSaleGatewaysBench(options: FlashSaleGatewaysOptions): Promise<FlashSaleGatewaysReport> {
  const data = tempFolder('bench-flash-sale-gateways');
  const counts = Array.from({ length: options.gateways }, (_, i) => i + 1);
  const saleOf = (n: number) => `bench-sale-n${n}`;
  const catalog = benchCatalog(counts.map(saleOf), options.units);
  const catalogFile = join(data.path, 'catalog.yaml');
  writeFileSync(catalogFile, stringify(catalog));
  const basePolicy = await loadPolicyFile(join(packageRoot, 'examples', 'phase1.yaml'));
  const pgSchemas = await postgresSchemas(options.postgresUrl, [...basePolicy.regions.map((r) => r.id), 'directory']);
  const { directory: directorySchema, ...regionSchemas } = pgSchemas.schemas;
  const directoryUrl = inSchema(options.postgresUrl, directorySchema!);
  const policy = onPostgres(basePolicy, options.postgresUrl, regionSchemas);
  const policyFile = join(data.path, 'policy.yaml');
  writeFileSync(policyFile, stringify(policy));
  const dataDirs = counts.map((n) => join(data.path, `gateway-${n}`));
  const servers: SpawnedServer[] = [];
  try {
    const buyerCount = Math.round(options.units * options.buyersPerUnit);
    options.log(
      `seeding ${buyerCount.toLocaleString('en-US')} buyers across ${markets.length} markets in PostgreSQL (directory, tenancies, sessions; not timed)…`,
    );
    const seeding = await Platform.open({
      policy,
      dataDir: dataDirs[0]!,
      durability: 'normal',
      directoryUrl,
      catalog: parseCatalog(catalog, catalogFile),
    });
    let buyers: Buyer[];
    try {
      buyers = await seedBuyers(
        seeding,
        buyerCount,
        markets,
        (n) => options.log(`  ${n.toLocaleString('en-US')} buyers`),
        16,
      );
    } finally {
      await seeding.close();
    }
    const operatorToken = seeding.secrets.operatorToken;
    // Every gateway of a deployment has the same secrets and the regions' keys.
    for (const dir of dataDirs.slice(1)) {
      mkdirSync(dir, { recursive: true });
      cpSync(join(dataDirs[0]!, 'secrets'), join(dir, 'secrets'), { recursive: true });
      cpSync(join(dataDirs[0]!, 'regions'), join(dir, 'regions'), { recursive: true });
    }

    const order = shuffled(buyers.map((_, i) => i));
    const retries = order.slice(0, Math.round(order.length * options.retryShare));
    const arrivals: number[] = [];
    for (let i = 0, r = 0; i < order.length; i++) {
      arrivals.push(order[i]!);
      if (i % Math.max(1, Math.round(1 / options.retryShare)) === 0 && r < retries.length) arrivals.push(retries[r++]!);
    }

    options.log('the baseline: a bare Fastify server answering the same claims with 201 and no work…');
    const bareServer = await spawnServer([join(packageRoot, 'dist', 'bench', 'bare-fastify-server.js')], /^listening /);
    servers.push(bareServer);
    const bareRun = await drive(bareServer.url, arrivals, buyers, { ...options, units: arrivals.length });
    await bareServer.stop();
    servers.splice(servers.indexOf(bareServer), 1);
    const bare = {
      requestsPerSecond: arrivals.length / (bareRun.elapsedMs / 1000),
      p50Ms: bareRun.result.latency.p50,
      p99Ms: bareRun.result.latency.p99,
    };

    const runs: SharedSaleRun[] = [];
    for (const n of counts) {
      const saleId = saleOf(n);
      const gateways: SpawnedServer[] = [];
      for (const dir of dataDirs.slice(0, n)) {
        const gateway = await spawnServer(
          [
            ...profileFlags(),
            join(packageRoot, 'bin', 'domicile.js'),
            'up',
            '--data',
            dir,
            '--port',
            '0',
            '--policy',
            policyFile,
            '--catalog',
            catalogFile,
            '--directory-url',
            directoryUrl,
            ...syntheticClientFlags,
          ],
          /gateway/,
          { DOMICILE_LOG: 'off' },
        );
        servers.push(gateway);
        gateways.push(gateway);
      }
      options.log(
        `the sale through ${n} gateway${n > 1 ? 's' : ''}: ${options.units.toLocaleString('en-US')} units, ${arrivals.length.toLocaleString('en-US')} claims over ${options.connections} connections…`,
      );
      const sale = await drive(
        gateways.map((g) => g.url),
        arrivals,
        buyers,
        { ...options, saleId },
      );
      const { wins, sold, soldOutMs, result } = sale;
      options.log(
        `sold ${sold.toLocaleString('en-US')} in ${(soldOutMs / 1000).toFixed(2)} s; waiting for the orders…`,
      );
      const drainStarted = performance.now();
      for (;;) {
        const at = await operatorGet(`${gateways[0]!.url}/v1/ops/shop/sales/${saleId}`, operatorToken);
        if (at.pendingOrders === 0) break;
        if (performance.now() - drainStarted > 600_000)
          throw new Error(`orders still pending after 10 minutes: ${JSON.stringify(at)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const drainMs = performance.now() - drainStarted;
      for (const g of gateways) {
        await g.stop();
        servers.splice(servers.indexOf(g), 1);
      }
      options.log('counting the orders in the regions, buyer by buyer…');
      const check = await Platform.open({
        policy,
        dataDir: dataDirs[0]!,
        durability: 'normal',
        readOnly: true,
        directoryUrl,
      });
      let written = 0;
      let misplaced = 0;
      try {
        let next = 0;
        const countSome = async () => {
          while (next < buyers.length) {
            const i = next++;
            const record = await routeToHome(check, buyers[i]!.userId, 'shop', (client, ref) =>
              client.getRecord({ ...ref, collection: 'orders', key: saleOrderKey(saleId) }),
            );
            if (record) written += 1;
            if (Boolean(record) !== wins[i]! > 0) misplaced += 1;
          }
        };
        await Promise.all(Array.from({ length: 16 }, countSome));
      } finally {
        await check.close();
      }
      runs.push({
        gateways: n,
        saleId,
        requests: result.requests.total,
        sold,
        soldOutMs,
        unitsPerSecond: options.units / (soldOutMs / 1000),
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        soldOut409: sale.soldOut,
        alreadyBought409: sale.alreadyBought,
        otherStatuses: Object.fromEntries(Object.entries(sale.statuses).filter(([s]) => s !== '201' && s !== '409')),
        errors: result.errors + result.timeouts,
        oversells: Math.max(0, sold - options.units),
        doubleSales: wins.reduce((k, w) => k + (w > 1 ? 1 : 0), 0),
        orders: { written, lost: Math.max(0, sold - written), drainMs, misplaced },
      });
    }

    const figures: Figure[] = [];
    const single = runs[0]!;
    for (const run of runs) {
      const of = `${run.gateways} gateway${run.gateways > 1 ? 's' : ''}`;
      figures.push(
        {
          name: `units sold per second, ${of}`,
          value: run.unitsPerSecond,
          unit: 'units/s',
          baseline: { name: 'bare Fastify, same claims', value: bare.requestsPerSecond },
          ...(run.gateways === 1 ? { goal: { atLeast: 0.7, text: 'goal ≥ 0.7× the bare server' } } : {}),
        },
        ...(run.gateways > 1
          ? [
              {
                name: `units sold per second, ${of} against 1`,
                value: run.unitsPerSecond,
                unit: 'units/s',
                baseline: { name: '1 gateway', value: single.unitsPerSecond },
                goal: { atLeast: 1, text: 'goal: no slower than 1 gateway' },
              },
            ]
          : []),
        { name: `time to sell out, ${of}`, value: run.soldOutMs / 1000, unit: 's' },
        {
          name: `claim latency p99, ${of}`,
          value: run.p99Ms,
          unit: 'ms',
          baseline: { name: 'bare Fastify', value: bare.p99Ms },
        },
        { name: `oversells, ${of}`, value: run.oversells, unit: 'units' },
        { name: `double sales, ${of}`, value: run.doubleSales, unit: 'buyers' },
        {
          name: `orders in the buyers' home regions, ${of}`,
          value: run.orders.written,
          unit: 'orders',
          baseline: { name: 'units sold', value: run.sold },
          goal: { atLeast: 1, atMost: 1, text: 'every unit sold has its order' },
        },
        { name: `orders written after the sell-out in, ${of}`, value: run.orders.drainMs / 1000, unit: 's' },
      );
    }
    return {
      machine: machine(),
      options: {
        units: options.units,
        buyersPerUnit: options.buyersPerUnit,
        retryShare: options.retryShare,
        connections: options.connections,
        gateways: options.gateways,
      },
      bare,
      runs,
      figures,
    };
  } finally {
    for (const s of servers) await s.stop();
    await pgSchemas.drop();
    data.remove();
  }
}
