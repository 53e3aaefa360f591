import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { stringify } from 'yaml';
import { Platform } from '../src/platform/platform.js';
import { routeToHome } from '../src/platform/route-to-home.js';
import { loadPolicyFile } from '../src/policy/load-policy.js';
import { parseCatalog } from '../src/services/shop/catalog.js';
import { saleOrderKey } from '../src/services/shop/flash-sales.js';
import { packageRoot } from '../src/shared/packaged-file.js';
import type { Figure } from './bench-output.js';
import { type Machine, machine } from './bench-output.js';
import { type Buyer, seedBuyers } from './seed-buyers.js';
import { profileFlags, type SpawnedServer, spawnServer } from './spawn-server.js';
import { tempFolder } from './temp-folder.js';

export interface FlashSaleBenchOptions {
  units: number;
  /** Buyers per unit (1.1: 10% more buyers than stock). */
  buyersPerUnit: number;
  /** Share of buyers who try a second time (a double sale would show there). */
  retryShare: number;
  connections: number;
  durability: 'full' | 'normal';
  log: (line: string) => void;
}

/** What the load generator saw of one sale: claims answered, units sold, how fast. */
export interface SaleOutcome {
  requests: number;
  sold: number;
  soldOutMs: number;
  unitsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  soldOut409: number;
  alreadyBought409: number;
  otherStatuses: Record<string, number>;
  errors: number;
}

/** The benches' catalog: the Redmi 1S, one sale of `units` per id. */
export function benchCatalog(saleIds: readonly string[], units: number) {
  return {
    products: [
      {
        sku: 'redmi-1s',
        name: 'Redmi 1S',
        description: 'the phone of the 2014 flash sales',
        price: { amount: 599900, currency: 'INR' },
      },
    ],
    sales: saleIds.map((id) => ({ id, sku: 'redmi-1s', units })),
  };
}

export interface FlashSaleReport {
  machine: Machine;
  options: Omit<FlashSaleBenchOptions, 'log'>;
  sale: SaleOutcome;
  bare: { requestsPerSecond: number; p50Ms: number; p99Ms: number };
  oversells: number;
  doubleSales: number;
  orders: { written: number; lost: number; drainMs: number; misplaced: number };
  figures: Figure[];
}

export const markets = ['IN', 'SG', 'MY', 'HK', 'ID', 'PH', 'TW', 'US', 'CN', 'BR'];
const saleId = 'bench-sale';

/** Fisher–Yates with a fixed seed: the arrival order of the buyers, the same every run. */
export function shuffled<T>(items: readonly T[], seed = 2014): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export async function operatorGet(url: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as Record<string, unknown>;
}

/**
 * `domicile bench flash-sale`: a flash sale of `units` to distinct logged-in buyers (10% more
 * than stock, some trying twice) over HTTP through a real `domicile up`, with the load
 * generator on the same machine. Prints units sold per second, the time to sell out, latency,
 * oversells and double sales (both must be 0), then waits for every order to rest in its
 * buyer's home region and counts them there. Baseline: a bare Fastify hello world driven the
 * same way in the same run.
 */
export async function flashSaleBench(options: FlashSaleBenchOptions): Promise<FlashSaleReport> {
  const data = tempFolder('bench-flash-sale');
  const dataDir = join(data.path, 'data');
  const policyFile = join(packageRoot, 'examples', 'phase1.yaml');
  const catalogFile = join(data.path, 'catalog.yaml');
  const catalog = benchCatalog([saleId], options.units);
  writeFileSync(catalogFile, stringify(catalog));
  const servers: SpawnedServer[] = [];
  try {
    const buyerCount = Math.round(options.units * options.buyersPerUnit);
    options.log(
      `seeding ${buyerCount.toLocaleString('en-US')} buyers across ${markets.length} markets (directory, tenancies, sessions; not timed)…`,
    );
    const policy = await loadPolicyFile(policyFile);
    const seeding = await Platform.open({
      policy,
      dataDir,
      durability: 'normal',
      catalog: parseCatalog(catalog, catalogFile),
    });
    let buyers: Buyer[];
    try {
      buyers = await seedBuyers(seeding, buyerCount, markets, (n) =>
        options.log(`  ${n.toLocaleString('en-US')} buyers`),
      );
    } finally {
      await seeding.close();
    }
    const operatorToken = seeding.secrets.operatorToken;

    const gateway = await spawnServer(
      [
        ...profileFlags(),
        join(packageRoot, 'bin', 'domicile.js'),
        'up',
        '--data',
        dataDir,
        '--port',
        '0',
        '--policy',
        policyFile,
        '--catalog',
        catalogFile,
        '--durability',
        options.durability,
      ],
      /gateway/,
      { DOMICILE_LOG: 'off' },
    );
    servers.push(gateway);

    // Arrival order: every buyer once, shuffled, and a share of them again a little later.
    const order = shuffled(buyers.map((_, i) => i));
    const retries = order.slice(0, Math.round(order.length * options.retryShare));
    const arrivals: number[] = [];
    for (let i = 0, r = 0; i < order.length; i++) {
      arrivals.push(order[i]!);
      if (i % Math.max(1, Math.round(1 / options.retryShare)) === 0 && r < retries.length) arrivals.push(retries[r++]!);
    }
    options.log(
      'the baseline: a bare Fastify server answering the same claims with 201 and no work, driven by the same load generator…',
    );
    const bareServer = await spawnServer([join(packageRoot, 'dist', 'bench', 'bare-fastify-server.js')], /^listening /);
    servers.push(bareServer);
    const bareRun = await drive(bareServer.url, arrivals, buyers, { ...options, units: arrivals.length });
    await bareServer.stop();
    const bare = {
      requestsPerSecond: arrivals.length / (bareRun.elapsedMs / 1000),
      p50Ms: bareRun.result.latency.p50,
      p99Ms: bareRun.result.latency.p99,
    };

    options.log(
      `the sale: ${options.units.toLocaleString('en-US')} units, ${arrivals.length.toLocaleString('en-US')} claims from ${buyerCount.toLocaleString('en-US')} buyers over ${options.connections} connections…`,
    );
    const sale = await drive(gateway.url, arrivals, buyers, options);
    const { wins, sold, soldOutMs, result } = sale;
    const doubleSales = wins.reduce((n, w) => n + (w > 1 ? 1 : 0), 0);
    const oversells = Math.max(0, sold - options.units);

    options.log(
      `sold ${sold.toLocaleString('en-US')} in ${(soldOutMs / 1000).toFixed(2)} s; waiting for every order to rest in its buyer's home region…`,
    );
    const drainStarted = performance.now();
    for (;;) {
      const counts = await operatorGet(`${gateway.url}/v1/ops/shop/sales/${saleId}`, operatorToken);
      if (counts.pendingOrders === 0) break;
      if (performance.now() - drainStarted > 600_000)
        throw new Error(`orders still pending after 10 minutes: ${JSON.stringify(counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const drainMs = performance.now() - drainStarted;
    await gateway.stop();

    options.log('counting the orders in the regions, buyer by buyer…');
    const check = await Platform.open({ policy, dataDir, durability: 'normal', readOnly: true });
    let written = 0;
    let misplaced = 0;
    try {
      for (let i = 0; i < buyers.length; i++) {
        const buyer = buyers[i]!;
        const record = await routeToHome(check, buyer.userId, 'shop', (client, ref) =>
          client.getRecord({ ...ref, collection: 'orders', key: saleOrderKey(saleId) }),
        );
        if (record) written += 1;
        // An order for a buyer who got no unit, or none for one who did.
        if (Boolean(record) !== wins[i]! > 0) misplaced += 1;
      }
    } finally {
      await check.close();
    }

    const unitsPerSecond = options.units / (soldOutMs / 1000);
    const report: FlashSaleReport = {
      machine: machine(),
      options: {
        units: options.units,
        buyersPerUnit: options.buyersPerUnit,
        retryShare: options.retryShare,
        connections: options.connections,
        durability: options.durability,
      },
      sale: {
        requests: result.requests.total,
        sold,
        soldOutMs,
        unitsPerSecond,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        soldOut409: sale.soldOut,
        alreadyBought409: sale.alreadyBought,
        otherStatuses: Object.fromEntries(Object.entries(sale.statuses).filter(([s]) => s !== '201' && s !== '409')),
        errors: result.errors + result.timeouts,
      },
      bare,
      oversells,
      doubleSales,
      orders: { written, lost: Math.max(0, sold - written), drainMs, misplaced },
      figures: [
        {
          name: 'units sold per second (to sell-out)',
          value: unitsPerSecond,
          unit: 'units/s',
          baseline: { name: 'bare Fastify, same claims', value: bare.requestsPerSecond },
        },
        {
          name: 'time to sell out',
          value: soldOutMs / 1000,
          unit: 's',
          baseline: { name: 'the goal', value: 5 },
          goal: { atMost: 1, text: 'goal < 5 s (the mark: 2.5 s)' },
        },
        {
          name: 'claim latency p50',
          value: result.latency.p50,
          unit: 'ms',
          baseline: { name: 'bare Fastify', value: bare.p50Ms },
        },
        {
          name: 'claim latency p99',
          value: result.latency.p99,
          unit: 'ms',
          baseline: { name: 'bare Fastify', value: bare.p99Ms },
        },
        { name: 'claims (201 + 409)', value: result.requests.total, unit: 'requests' },
        { name: 'oversells', value: oversells, unit: 'units' },
        { name: 'double sales', value: doubleSales, unit: 'buyers' },
        {
          name: "orders in the buyers' home regions",
          value: written,
          unit: 'orders',
          baseline: { name: 'units sold', value: sold },
          goal: { atLeast: 1, atMost: 1, text: 'every unit sold has its order' },
        },
        { name: 'orders written after the sell-out in', value: drainMs / 1000, unit: 's' },
      ],
    };
    return report;
  } finally {
    for (const s of servers) await s.stop();
    data.remove();
  }
}

export interface Drive {
  wins: Uint8Array;
  sold: number;
  soldOutMs: number;
  elapsedMs: number;
  soldOut: number;
  alreadyBought: number;
  statuses: Record<string, number>;
  result: autocannon.Result;
}

/**
 * Sends every arrival's claim once, with its buyer's token, over `connections` connections
 * (autocannon), and counts per buyer what each answer gave. The same for the sale and for
 * its baseline, so that both carry the same load generator's cost.
 */
export async function drive(
  urls: string | readonly string[],
  arrivals: readonly number[],
  buyers: readonly Buyer[],
  options: { units: number; connections: number; saleId?: string },
): Promise<Drive> {
  const wins = new Uint8Array(buyers.length);
  const statuses: Record<string, number> = {};
  let sold = 0;
  let soldOutMs = 0;
  let alreadyBought = 0;
  let soldOut = 0;
  let next = 0;
  const started = performance.now();
  // Several gateways (a load balancer's spread): one load generator per gateway in this process,
  // its share of the connections and of the claims, all taking the next arrival from one queue.
  const targets = typeof urls === 'string' ? [urls] : urls;
  const path = `/v1/shop/sales/${options.saleId ?? saleId}/claims`;
  const results = await Promise.all(
    targets.map((url, t) =>
      autocannon({
        url,
        connections: Math.max(1, Math.round(options.connections / targets.length)),
        amount: Math.floor(arrivals.length / targets.length) + (t < arrivals.length % targets.length ? 1 : 0),
        timeout: 30,
        requests: [
          {
            method: 'POST',
            path,
            setupRequest: (req, context: object) => {
              const buyer = arrivals[next++ % arrivals.length]!;
              (context as { buyer?: number }).buyer = buyer;
              return { ...req, headers: { ...req.headers, authorization: `Bearer ${buyers[buyer]!.token}` } };
            },
            onResponse: (status, body, context: object) => {
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (status === 201) {
                wins[(context as { buyer: number }).buyer]! += 1;
                sold += 1;
                if (sold === options.units) soldOutMs = performance.now() - started;
              } else if (status === 409) {
                if (body.includes('already-bought')) alreadyBought += 1;
                else if (body.includes('sold-out')) soldOut += 1;
              }
            },
          },
        ],
      }),
    ),
  );
  const result = mergeResults(results);
  const elapsedMs = performance.now() - started;
  return { wins, sold, soldOutMs: soldOutMs || elapsedMs, elapsedMs, soldOut, alreadyBought, statuses, result };
}

/** The load generators' results as one: their counts summed, latency percentiles the worst of them (a bound, not a merge). */
function mergeResults(results: readonly autocannon.Result[]): autocannon.Result {
  if (results.length === 1) return results[0]!;
  const first = results[0]!;
  return {
    ...first,
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
    requests: { ...first.requests, total: results.reduce((n, r) => n + r.requests.total, 0) },
    latency: {
      ...first.latency,
      p50: Math.max(...results.map((r) => r.latency.p50)),
      p99: Math.max(...results.map((r) => r.latency.p99)),
    },
  };
}
