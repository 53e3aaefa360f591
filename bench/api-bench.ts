import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadPolicyFile } from '../src/policy/load-policy.js';
import { packageRoot } from '../src/shared/packaged-file.js';
import type { Figure } from './bench-output.js';
import { type Machine, machine } from './bench-output.js';
import { encryptionCost } from './encryption-cost.js';
import { combine, type LoadRequest, type LoadResult, runLoad } from './http-load.js';
import { type LoginFloodReport, loginFlood } from './login-flood.js';
import { onPostgres, postgresSchemas } from './postgres-regions.js';
import { spawnServer, syntheticClientFlags } from './spawn-server.js';
import { tempFolder } from './temp-folder.js';

export interface ApiBenchOptions {
  seconds: number;
  connections: number;
  users: number;
  recordsPerUser: number;
  /** Where the regions rest: the embedded SQLite default, or PostgreSQL (each live region a schema on this server), measured beside SQLite in the same run. */
  store?: 'sqlite' | 'postgres';
  postgresUrl?: string;
  log: (line: string) => void;
}

export interface ApiBenchReport {
  machine: Machine;
  bare: LoadResult;
  reads: LoadResult;
  writes: LoadResult;
  /** With `store: 'postgres'`: the same loads through a gateway on PostgreSQL regions; `reads` and `writes` above are then SQLite's, from the same run. */
  postgres?: { reads: LoadResult; writes: LoadResult };
  /** Authenticated reads' p99 with and without 60 concurrent wrong-password logins. */
  loginFlood: LoginFloodReport;
  figures: Figure[];
}

const markets = ['CN', 'IN', 'MY', 'SG', 'US', 'BR', 'HK', 'ID', 'PH', 'TW'];

async function post(url: string, body: unknown): Promise<{ token: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { token: string };
}

/** A user with one photo of 256 KiB, uploaded through the API: the download the login flood bench times. */
async function seedPhoto(url: string): Promise<LoadRequest[]> {
  const json = { 'content-type': 'application/json' };
  const { token } = await post(`${url}/v1/accounts`, {
    email: 'bench-photos@example.com',
    password: 'bench-password',
    market: 'MY',
  });
  const auth = { authorization: `Bearer ${token}` };
  const call = async (path: string, init: RequestInit, status: number): Promise<Response> => {
    const res = await fetch(`${url}${path}`, init);
    if (res.status !== status)
      throw new Error(`seeding a photo: ${init.method ?? 'GET'} ${path} answered ${res.status} ${await res.text()}`);
    return res;
  };
  await call(
    '/v1/me/consents/cloud-backup',
    {
      method: 'PUT',
      headers: { ...auth, ...json },
      body: JSON.stringify({ decision: 'grant', noticeVersion: '2014-08' }),
    },
    200,
  );
  const bytes = randomBytes(256 * 1024);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = (await (
    await call(
      '/v1/me/photos',
      {
        method: 'POST',
        headers: { ...auth, ...json },
        body: JSON.stringify({ name: 'IMG_flood.jpg', contentType: 'image/jpeg', size: bytes.length, sha256 }),
      },
      201,
    )
  ).json()) as { id: string; chunks: number; chunkSize: number };
  for (let i = 0; i < manifest.chunks; i++) {
    await call(
      `/v1/me/photos/${manifest.id}/chunks/${i}`,
      {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/octet-stream' },
        body: bytes.subarray(i * manifest.chunkSize, (i + 1) * manifest.chunkSize),
      },
      200,
    );
  }
  await call(`/v1/me/photos/${manifest.id}/complete`, { method: 'POST', headers: auth }, 200);
  return [{ method: 'GET', path: `/v1/me/photos/${manifest.id}/content`, headers: auth }];
}

/** A value of about 200 bytes, different per user and key. */
function sampleValue(user: number, key: number): string {
  return JSON.stringify({
    item: `sku-${user}-${key}`,
    qty: ((user + key) % 5) + 1,
    note: 'x'.repeat(150),
    at: 1_414_000_000 + key,
  });
}

interface BenchGateway {
  server: Awaited<ReturnType<typeof spawnServer>>;
  readRequests: LoadRequest[];
  writeRequests: LoadRequest[];
  stop(): Promise<void>;
}

/**
 * A real `domicile up` process on the scenario's phase 3, its regions on SQLite files or each
 * in a PostgreSQL schema of its own, seeded with `users` users of `recordsPerUser` records;
 * and the read and write requests the bench sends it.
 */
async function startGateway(store: 'sqlite' | 'postgres', options: ApiBenchOptions): Promise<BenchGateway> {
  const data = tempFolder(`bench-api-${store}`);
  let policyFile = join(packageRoot, 'examples', 'phase3.yaml');
  let postgres: Awaited<ReturnType<typeof postgresSchemas>> | undefined;
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
  const stop = async () => {
    await server?.stop();
    data.remove();
    await postgres?.drop();
  };
  try {
    if (store === 'postgres') {
      postgres = await postgresSchemas(options.postgresUrl!, [
        'cn-beijing',
        'us-california',
        'us-oregon',
        'sg-singapore',
        'in-mumbai',
      ]);
      const policy = onPostgres(await loadPolicyFile(policyFile), options.postgresUrl!, postgres.schemas);
      policyFile = join(data.path, 'phase3-postgres.yaml');
      writeFileSync(policyFile, stringify(policy));
    }
    server = await spawnServer(
      // The bench's users all come from this machine: the per-address limits are lifted (the flood below relies on it too).
      [
        join(packageRoot, 'bin', 'domicile.js'),
        'up',
        '--data',
        data.path,
        '--port',
        '0',
        '--policy',
        policyFile,
        ...syntheticClientFlags,
      ],
      /gateway/,
      { DOMICILE_LOG: 'off' },
    );
    options.log(
      `${storeName[store]}: registering ${options.users} users and writing ${options.users * options.recordsPerUser} records…`,
    );
    const readRequests: LoadRequest[] = [];
    const writeRequests: LoadRequest[] = [];
    for (let u = 0; u < options.users; u++) {
      const { token } = await post(`${server.url}/v1/accounts`, {
        email: `bench-${u}@example.com`,
        password: 'bench-password',
        market: markets[u % markets.length],
      });
      const headers = { authorization: `Bearer ${token}` };
      for (let k = 0; k < options.recordsPerUser; k++) {
        const path = `/v1/me/shop/orders/o-${k}`;
        const res = await fetch(`${server.url}${path}`, {
          method: 'PUT',
          headers: { ...headers, 'content-type': 'application/json' },
          body: sampleValue(u, k),
        });
        if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`);
        readRequests.push({ method: 'GET', path, headers });
        writeRequests.push({
          method: 'PUT',
          path: `/v1/me/shop/cart/c-${k}`,
          headers: { ...headers, 'content-type': 'application/json' },
          body: sampleValue(u, k),
        });
      }
    }
    // Interleave users so that consecutive requests hit different users and regions: the writes
    // too, else the connections in flight all write one user's records, one at a time wherever
    // a user's writes are serialised (PostgreSQL regions, each paying its own commit).
    readRequests.sort((a, b) => a.path.localeCompare(b.path));
    writeRequests.sort((a, b) => a.path.localeCompare(b.path));
    return { server, readRequests, writeRequests, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const storeName = { sqlite: 'SQLite regions', postgres: 'PostgreSQL regions' } as const;

function honest(name: string, r: LoadResult): void {
  if (r.errors > 0 || r.non2xx > 0) {
    throw new Error(
      `the ${name} run had ${r.errors} errors and ${r.non2xx} non-2xx answers: the figures would not be honest`,
    );
  }
}

/**
 * `domicile bench api`: authenticated record reads and writes per second through a real
 * `domicile up` process, beside a bare Fastify hello world run the same way in the same run;
 * then the encryption layer's cost against the same records written straight to the store.
 *
 * With `store: 'postgres'` it runs two gateways, one on SQLite regions and one on PostgreSQL
 * regions (both at full durability: SQLite's synchronous=FULL, PostgreSQL's
 * synchronous_commit=on), and alternates their rounds, so that the PostgreSQL figures stand
 * beside the embedded default's measured in the same run.
 */
export async function apiBench(options: ApiBenchOptions): Promise<ApiBenchReport> {
  const load = { seconds: options.seconds, connections: options.connections };
  const distBench = join(packageRoot, 'dist', 'bench');
  const stores: ('sqlite' | 'postgres')[] = options.store === 'postgres' ? ['sqlite', 'postgres'] : ['sqlite'];
  const bareServer = await spawnServer([join(distBench, 'bare-fastify-server.js')], /^listening /);
  const gateways: Partial<Record<'sqlite' | 'postgres', BenchGateway>> = {};
  let bare: LoadResult;
  const reads: Partial<Record<'sqlite' | 'postgres', LoadResult>> = {};
  const writes: Partial<Record<'sqlite' | 'postgres', LoadResult>> = {};
  let flood: LoginFloodReport;
  try {
    for (const store of stores) gateways[store] = await startGateway(store, options);
    const hello: LoadRequest[] = [{ method: 'GET', path: '/' }];
    await runLoad(bareServer.url, hello, { ...load, seconds: 1 }); // warm-up
    // Warm-up of each gateway's reads and writes: the writes' first second creates each user's
    // cart key and grows the PostgreSQL pools to what 32 connections need, both one-time costs
    // that the rounds below, measuring a gateway at work, leave out.
    for (const store of stores) {
      await runLoad(gateways[store]!.server.url, gateways[store]!.readRequests, { ...load, seconds: 1 });
      await runLoad(gateways[store]!.server.url, gateways[store]!.writeRequests, { ...load, seconds: 1 });
    }
    // The baseline and the gateways alternate in rounds, so that a neighbour's load on this
    // shared machine falls on all of them rather than on one.
    const rounds = 3;
    const slice = { ...load, seconds: load.seconds / rounds };
    const bareRuns: LoadResult[] = [];
    const readRuns: Record<string, LoadResult[]> = { sqlite: [], postgres: [] };
    const writeRuns: Record<string, LoadResult[]> = { sqlite: [], postgres: [] };
    for (let round = 1; round <= rounds; round++) {
      options.log(
        `round ${round}/${rounds}: bare Fastify hello world, then authenticated reads through ${stores.map((s) => storeName[s]).join(', then ')}…`,
      );
      bareRuns.push(await runLoad(bareServer.url, hello, slice));
      for (const store of stores)
        readRuns[store]!.push(await runLoad(gateways[store]!.server.url, gateways[store]!.readRequests, slice));
    }
    for (let round = 1; round <= rounds; round++) {
      options.log(
        `round ${round}/${rounds}: authenticated writes through ${stores.map((s) => storeName[s]).join(', then ')}…`,
      );
      for (const store of stores)
        writeRuns[store]!.push(await runLoad(gateways[store]!.server.url, gateways[store]!.writeRequests, slice));
    }
    bare = combine(bareRuns);
    for (const store of stores) {
      reads[store] = combine(readRuns[store]!);
      writes[store] = combine(writeRuns[store]!);
    }
    // The login flood runs against the store asked for.
    const flooded = gateways[stores[stores.length - 1]!]!;
    const downloads = await seedPhoto(flooded.server.url);
    flood = await loginFlood(
      flooded.server.url,
      flooded.readRequests,
      Array.from({ length: options.users }, (_, u) => `bench-${u}@example.com`),
      {
        logins: 60,
        readRate: 200,
        readConnections: 8,
        seconds: options.seconds,
        downloads,
        downloadRate: 20,
        log: options.log,
      },
    );
  } finally {
    for (const store of stores) await gateways[store]?.stop();
    await bareServer.stop();
  }

  options.log('encryption layer against plain store writes…');
  const cost = [
    ...(await encryptionCost({ records: 20_000, durability: 'normal' })),
    ...(await encryptionCost({ records: 2_000, durability: 'full' })),
  ];

  const sqliteReads = reads.sqlite!;
  const sqliteWrites = writes.sqlite!;
  const figures: Figure[] = [
    { name: 'bare Fastify hello world', value: bare.requestsPerSecond, unit: 'req/s' },
    {
      name: 'authenticated reads',
      value: sqliteReads.requestsPerSecond,
      unit: 'req/s',
      baseline: { name: 'bare', value: bare.requestsPerSecond },
      goal: { atLeast: 0.4, text: 'goal ≥ 0.40×' },
    },
    {
      name: 'authenticated writes',
      value: sqliteWrites.requestsPerSecond,
      unit: 'req/s',
      baseline: { name: 'bare', value: bare.requestsPerSecond },
    },
  ];
  if (reads.postgres && writes.postgres) {
    figures.push(
      {
        name: 'authenticated reads, PostgreSQL regions',
        value: reads.postgres.requestsPerSecond,
        unit: 'req/s',
        baseline: { name: 'SQLite regions', value: sqliteReads.requestsPerSecond },
        goal: { atLeast: 0.8, text: 'goal ≥ 0.80×' },
      },
      {
        name: 'authenticated writes, PostgreSQL regions',
        value: writes.postgres.requestsPerSecond,
        unit: 'req/s',
        baseline: { name: 'SQLite regions', value: sqliteWrites.requestsPerSecond },
        goal: { atLeast: 0.8, text: 'goal ≥ 0.80×' },
      },
    );
  }
  figures.push(...flood.figures, ...cost);
  for (const store of stores) {
    honest(`${storeName[store]} reads`, reads[store]!);
    honest(`${storeName[store]} writes`, writes[store]!);
  }
  return {
    machine: machine(),
    bare,
    reads: sqliteReads,
    writes: sqliteWrites,
    ...(reads.postgres && writes.postgres ? { postgres: { reads: reads.postgres, writes: writes.postgres } } : {}),
    loginFlood: flood,
    figures,
  };
}
