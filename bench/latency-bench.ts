import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DomicileError } from '../src/errors/domicile-error.js';
import { percentile } from '../src/migrate/migration-status.js';
import { homeRegion } from '../src/policy/placement.js';
import {
  migrateToCompletion,
  openScenarioPhase,
  type ScenarioPhase,
  scenarioPhases,
} from '../src/scenario/scenario-phase.js';
import { forecast, type Operation, operations, type Sizes, serviceOf } from '../src/wan/latency-forecast.js';
import type { Latency } from '../src/wan/latency-schema.js';
import { emulatedMarkets } from '../src/wan/load-latency.js';
import { regionLink } from '../src/wan/network-model.js';
import { type Machine, machine } from './bench-output.js';
import { type ClaimVerdict, evaluateClaims } from './latency-claims.js';
import type { OperationResult, Percentiles, PhaseMeasurement } from './latency-measurement.js';
import { type Answer, MarketConnection } from './market-client.js';
import { tempFolder } from './temp-folder.js';

export interface LatencyBenchOptions {
  latency: Latency;
  /** Samples per market and phase. */
  samples: Record<Operation, number>;
  log: (line: string) => void;
}

export interface LatencyReport {
  latency: string;
  markets: string[];
  notEmulated: string[];
  phases: PhaseMeasurement[];
  claims: ClaimVerdict[];
  sizes: Sizes;
  machine: Machine & { date: string };
}

const phases = ['before', ...scenarioPhases] as const;

interface BenchUser {
  market: string;
  token: string;
}

function expectStatus(a: Answer, status: number, what: string): Answer {
  if (a.status !== status)
    throw new DomicileError(
      'INTERNAL',
      `${what} answered ${a.status}, not ${status}: ${a.body.toString().slice(0, 300)}`,
    );
  return a;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), samples: sorted.length };
}

/**
 * `domicile bench latency`: the scenario before → phase 1 → phase 2 → phase 3 on one data
 * folder, each phase's migration run to completion, in WAN emulation mode; synthetic clients
 * of every emulated market load the store page, make an account request and sync a photo, and
 * their latencies are compared with `before` and with the articles' claims.
 */
export async function latencyBench(options: LatencyBenchOptions): Promise<LatencyReport> {
  const { latency, log } = options;
  const data = tempFolder('domicile-latency-bench-');
  const dataDir = join(data.path, 'data');
  let markets: string[] = [];
  let notEmulated: string[] = [];
  const photo = randomBytes(2 * 1024 * 1024);
  const photoSha = createHash('sha256').update(photo).digest('hex');
  const chunkBytes = 512 * 1024;
  const sizes: Sizes = {
    pageBytes: 0,
    assetBytes: 0,
    catalogBytes: 0,
    cartBytes: 0,
    accountBytes: 0,
    photoBytes: photo.length,
    chunkBytes,
  };
  let assetPath = '';
  const users: BenchUser[] = [];
  const results: PhaseMeasurement[] = [];
  let current: ScenarioPhase | undefined;
  try {
    for (const phase of phases) {
      const cdn = phase !== 'before';
      current = await openScenarioPhase(dataDir, phase, { latency, edgeCache: cdn });
      const { app, engine, platform } = current;
      let migration: PhaseMeasurement['migration'] = null;
      if (phase === 'before') {
        markets = emulatedMarkets(latency, platform.policy);
        notEmulated = platform.policy.markets.map((m) => m.country).filter((m) => !markets.includes(m));
        log(
          `before: registering a user in each of ${markets.join(', ')} (not emulated: ${notEmulated.join(', ') || 'none'}, no published access round trip)…`,
        );
        for (const market of markets) users.push(await registerUser(app, market));
        const page = await app.inject({ method: 'GET', url: '/dashboard/' });
        assetPath = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page.body)?.[1] ?? '';
        if (!assetPath)
          throw new DomicileError('INTERNAL', 'the dashboard page names no script: run npm run build first');
      } else if ((await engine.plan()).groups.some((g) => g.users > 0)) {
        const started = performance.now();
        log(`${phase}: migrating to the new policy…`);
        const done = await migrateToCompletion(engine, phase, 16);
        migration = { rows: done.moved.rows, seconds: (performance.now() - started) / 1000 };
      }
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      log(
        `${phase}: ${users.length} markets at once: ${options.samples['store page']} store pages, ${options.samples['account request']} account requests, ${options.samples['photo sync']} photo syncs of 2 MiB each…`,
      );
      const marketSizes = users.map(() => ({ ...sizes }));
      const measured = await Promise.all(
        users.map((u, i) =>
          measureMarket(url, u, options.samples, {
            cdn,
            assetPath,
            photo,
            photoSha,
            chunkBytes,
            sizes: marketSizes[i]!,
          }),
        ),
      );
      Object.assign(sizes, marketSizes[0]);
      const byMarket: PhaseMeasurement['markets'] = {};
      for (const [i, u] of users.entries()) {
        const predicted = forecast(latency, platform.policy, u.market, { cdn, sizes: marketSizes[i]! });
        const m = measured[i]!;
        byMarket[u.market] = Object.fromEntries(
          operations.map((op) => {
            const home = homeRegion(platform.policy, u.market, serviceOf[op]);
            return [
              op,
              {
                ...percentiles(m[op]),
                forecastMs: predicted[op],
                home,
                rttMs: regionLink(latency, u.market, home).rttMs,
              },
            ];
          }),
        ) as Record<Operation, OperationResult>;
      }
      results.push({ phase, cdn, markets: byMarket, migration });
      await current.close();
      current = undefined;
    }
  } finally {
    await current?.close();
    data.remove();
  }
  return {
    latency: latency.name,
    markets,
    notEmulated,
    phases: results,
    claims: evaluateClaims(results, latency, sizes),
    sizes,
    machine: { ...machine(), date: new Date().toISOString().slice(0, 10) },
  };
}

async function registerUser(app: ScenarioPhase['app'], market: string): Promise<BenchUser> {
  const email = `latency-${market.toLowerCase()}@example.com`;
  const res = await app.inject({
    method: 'POST',
    url: '/v1/accounts',
    payload: { email, password: 'latency-bench', market },
  });
  if (res.statusCode !== 201)
    throw new DomicileError('INTERNAL', `registering a ${market} user answered ${res.statusCode}: ${res.body}`);
  const { token } = res.json() as { token: string };
  const auth = { authorization: `Bearer ${token}` };
  const consent = await app.inject({
    method: 'PUT',
    url: '/v1/me/consents/cloud-backup',
    headers: auth,
    payload: { decision: 'grant', noticeVersion: '2014-08', method: 'settings' },
  });
  if (consent.statusCode !== 200)
    throw new DomicileError('INTERNAL', `granting cloud-backup answered ${consent.statusCode}: ${consent.body}`);
  const cart = await app.inject({
    method: 'PUT',
    url: '/v1/me/shop/cart/mi-4',
    headers: auth,
    payload: { value: { sku: 'mi-4', quantity: 1 } },
  });
  if (cart.statusCode !== 200)
    throw new DomicileError('INTERNAL', `filling the cart answered ${cart.statusCode}: ${cart.body}`);
  return { market, token };
}

interface Fixtures {
  /** Whether the phase has a CDN in front (the edge cache). */
  cdn: boolean;
  assetPath: string;
  photo: Buffer;
  photoSha: string;
  chunkBytes: number;
  /** Filled with the real sizes as this market sees them, for the forecast beside the measurement. */
  sizes: Sizes;
}

/** One market's samples, one operation after another (markets run at the same time). */
async function measureMarket(
  url: string,
  user: BenchUser,
  samples: Record<Operation, number>,
  f: Fixtures,
): Promise<Record<Operation, number[]>> {
  const out: Record<Operation, number[]> = { 'store page': [], 'account request': [], 'photo sync': [] };
  const { market, token } = user;

  for (let i = 0; i < samples['store page']; i++) {
    // A browser opening the store: new connections to the store and to the API.
    const store = new MarketConnection(url, market);
    const api = new MarketConnection(url, market);
    // Static content comes from the CDN's edge on a connection of its own; without a CDN, from the store on the page's.
    const statics = f.cdn ? new MarketConnection(url, market) : store;
    const started = performance.now();
    const page = expectStatus(await store.send('GET', '/dashboard/'), 200, 'the store page');
    const [[asset, catalog], cart] = await Promise.all([
      (async () => [
        expectStatus(await statics.send('GET', f.assetPath), 200, 'a static asset'),
        expectStatus(await statics.send('GET', '/v1/catalog'), 200, 'the catalog'),
      ])(),
      api.send('GET', '/v1/me/shop/cart', { token }).then((a) => expectStatus(a, 200, 'the cart')),
    ]);
    out['store page'].push(performance.now() - started);
    f.sizes.pageBytes = page.body.length;
    f.sizes.assetBytes = asset!.body.length;
    f.sizes.catalogBytes = catalog!.body.length;
    f.sizes.cartBytes = cart.body.length;
    store.close();
    api.close();
    statics.close();
  }

  // A request on the app's open connection: opened once, untimed.
  const app = new MarketConnection(url, market);
  expectStatus(await app.send('GET', '/v1/me/devices', { token }), 200, 'the account');
  for (let i = 0; i < samples['account request']; i++) {
    const a = expectStatus(await app.send('GET', '/v1/me/devices', { token }), 200, 'the account');
    out['account request'].push(a.ms);
    f.sizes.accountBytes = a.body.length;
  }
  app.close();

  for (let i = 0; i < samples['photo sync']; i++) {
    const cloud = new MarketConnection(url, market);
    const started = performance.now();
    const start = expectStatus(
      await cloud.send('POST', '/v1/me/photos', {
        token,
        json: { name: `IMG_${i}.jpg`, contentType: 'image/jpeg', size: f.photo.length, sha256: f.photoSha },
      }),
      201,
      'starting a photo upload',
    );
    const { id } = JSON.parse(start.body.toString()) as { id: string };
    for (let c = 0; c * f.chunkBytes < f.photo.length; c++) {
      expectStatus(
        await cloud.send('PUT', `/v1/me/photos/${id}/chunks/${c}`, {
          token,
          bytes: f.photo.subarray(c * f.chunkBytes, (c + 1) * f.chunkBytes),
        }),
        200,
        'a photo chunk',
      );
    }
    expectStatus(await cloud.send('POST', `/v1/me/photos/${id}/complete`, { token }), 200, 'completing a photo');
    out['photo sync'].push(performance.now() - started);
    // Not timed: the photo goes, so that the migrations move only what every phase starts with.
    expectStatus(await cloud.send('DELETE', `/v1/me/photos/${id}`, { token }), 204, 'deleting a photo');
    cloud.close();
  }
  return out;
}
