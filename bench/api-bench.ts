import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { packageRoot } from '../src/cli/cli-options.js';
import type { Figure } from './bench-output.js';
import { encryptionCost } from './encryption-cost.js';
import { combine, runLoad, type LoadRequest, type LoadResult } from './http-load.js';
import { spawnServer, syntheticClientFlags } from './spawn-server.js';
import { loginFlood, type LoginFloodReport } from './login-flood.js';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadPolicyFile } from '../src/policy/load-policy.js';
import { onPostgres, postgresSchemas } from './postgres-regions.js';
import { tempFolder } from './temp-folder.js';
import { machine, type Machine } from './bench-output.js';

export interface ApiBenchOptions {
  seconds: number;
  connections: number;
  users: number;
  recordsPerUser: number;
  /** Where the regions rest: the embedded SQLite default, or PostgreSQL (each live region a schema on this server). */
  store?: 'sqlite' | 'postgres';
  postgresUrl?: string;
  log: (line: string) => void;
}

export interface ApiBenchReport {
  machine: Machine;
  bare: LoadResult;
  reads: LoadResult;
  writes: LoadResult;
  /** Authenticated reads' p99 with and without 60 concurrent wrong-password logins. */
  loginFlood: LoginFloodReport;
  figures: Figure[];
}

const markets = ['CN', 'IN', 'MY', 'SG', 'US', 'BR', 'HK', 'ID', 'PH', 'TW'];

async function post(url: string, body: unknown): Promise<{ token: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { token: string };
}

/** A user with one photo of 256 KiB, uploaded through the API: the download the login flood bench times. */
async function seedPhoto(url: string): Promise<LoadRequest[]> {
  const json = { 'content-type': 'application/json' };
  const { token } = await post(`${url}/v1/accounts`, { email: 'bench-photos@example.com', password: 'bench-password', market: 'MY' });
  const auth = { authorization: `Bearer ${token}` };
  const call = async (path: string, init: RequestInit, status: number): Promise<Response> => {
    const res = await fetch(`${url}${path}`, init);
    if (res.status !== status) throw new Error(`seeding a photo: ${init.method ?? 'GET'} ${path} answered ${res.status} ${await res.text()}`);
    return res;
  };
  await call('/v1/me/consents/cloud-backup', { method: 'PUT', headers: { ...auth, ...json }, body: JSON.stringify({ decision: 'grant', noticeVersion: '2014-08' }) }, 200);
  const bytes = randomBytes(256 * 1024);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = (await (await call('/v1/me/photos', { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify({ name: 'IMG_flood.jpg', contentType: 'image/jpeg', size: bytes.length, sha256 }) }, 201)).json()) as { id: string; chunks: number; chunkSize: number };
  for (let i = 0; i < manifest.chunks; i++) {
    await call(`/v1/me/photos/${manifest.id}/chunks/${i}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: bytes.subarray(i * manifest.chunkSize, (i + 1) * manifest.chunkSize) }, 200);
  }
  await call(`/v1/me/photos/${manifest.id}/complete`, { method: 'POST', headers: auth }, 200);
  return [{ method: 'GET', path: `/v1/me/photos/${manifest.id}/content`, headers: auth }];
}

/** A value of about 200 bytes, different per user and key. */
function sampleValue(user: number, key: number): string {
  return JSON.stringify({ item: `sku-${user}-${key}`, qty: (user + key) % 5 + 1, note: 'x'.repeat(150), at: 1_414_000_000 + key });
}

/**
 * `domicile bench api`: authenticated record reads and writes per second through a real
 * `domicile up` process, beside a bare Fastify hello world run the same way in the same run;
 * then the encryption layer's cost against the same records written straight to the store.
 */
export async function apiBench(options: ApiBenchOptions): Promise<ApiBenchReport> {
  const load = { seconds: options.seconds, connections: options.connections };
  const distBench = join(packageRoot, 'dist', 'bench');

  const data = tempFolder('bench-api');
  // On PostgreSQL: the scenario's phase 3 with every live region in a schema of its own, as a policy file.
  let policyFile = join(packageRoot, 'examples', 'phase3.yaml');
  const postgres = options.store === 'postgres' ? await postgresSchemas(options.postgresUrl!, ['cn-beijing', 'us-california', 'us-oregon', 'sg-singapore', 'in-mumbai']) : undefined;
  if (postgres) {
    const policy = onPostgres(await loadPolicyFile(policyFile), options.postgresUrl!, postgres.schemas);
    policyFile = join(data.path, 'phase3-postgres.yaml');
    writeFileSync(policyFile, stringify(policy));
  }
  const bareServer = await spawnServer([join(distBench, 'bare-fastify-server.js')], /^listening /);
  let gateway: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let bare: LoadResult;
  let reads: LoadResult;
  let writes: LoadResult;
  let flood: LoginFloodReport;
  try {
    gateway = await spawnServer(
      // The bench's users all come from this machine: the per-address limits are lifted (the flood below relies on it too).
      [join(packageRoot, 'bin', 'domicile.js'), 'up', '--data', data.path, '--port', '0', '--policy', policyFile, ...syntheticClientFlags],
      /gateway/,
      { DOMICILE_LOG: 'off' },
    );
    options.log(`registering ${options.users} users and writing ${options.users * options.recordsPerUser} records…`);
    const readRequests: LoadRequest[] = [];
    const writeRequests: LoadRequest[] = [];
    for (let u = 0; u < options.users; u++) {
      const { token } = await post(`${gateway.url}/v1/accounts`, { email: `bench-${u}@example.com`, password: 'bench-password', market: markets[u % markets.length] });
      const headers = { authorization: `Bearer ${token}` };
      for (let k = 0; k < options.recordsPerUser; k++) {
        const path = `/v1/me/shop/orders/o-${k}`;
        const res = await fetch(`${gateway.url}${path}`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/json' }, body: sampleValue(u, k) });
        if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`);
        readRequests.push({ method: 'GET', path, headers });
        writeRequests.push({ method: 'PUT', path: `/v1/me/shop/cart/c-${k}`, headers: { ...headers, 'content-type': 'application/json' }, body: sampleValue(u, k) });
      }
    }
    // Interleave users so that consecutive requests hit different users and regions: the writes
    // too, else the connections in flight all write one user's records, one at a time wherever
    // a user's writes are serialised (PostgreSQL regions, each paying its own commit).
    readRequests.sort((a, b) => a.path.localeCompare(b.path));
    writeRequests.sort((a, b) => a.path.localeCompare(b.path));
    const hello: LoadRequest[] = [{ method: 'GET', path: '/' }];
    await runLoad(bareServer.url, hello, { ...load, seconds: 1 }); // warm-up
    await runLoad(gateway.url, readRequests, { ...load, seconds: 1 });
    // The baseline and the reads alternate in rounds, so that a neighbour's load on this
    // shared machine falls on both rather than on one.
    const rounds = 3;
    const bareRuns: LoadResult[] = [];
    const readRuns: LoadResult[] = [];
    for (let round = 1; round <= rounds; round++) {
      options.log(`round ${round}/${rounds}: bare Fastify hello world, then authenticated reads through the gateway…`);
      bareRuns.push(await runLoad(bareServer.url, hello, { ...load, seconds: load.seconds / rounds }));
      readRuns.push(await runLoad(gateway.url, readRequests, { ...load, seconds: load.seconds / rounds }));
    }
    bare = combine(bareRuns);
    reads = combine(readRuns);
    options.log('authenticated writes through the gateway…');
    writes = await runLoad(gateway.url, writeRequests, load);
    const downloads = await seedPhoto(gateway.url);
    flood = await loginFlood(gateway.url, readRequests, Array.from({ length: options.users }, (_, u) => `bench-${u}@example.com`), {
      logins: 60, readRate: 200, readConnections: 8, seconds: options.seconds, downloads, downloadRate: 20, log: options.log,
    });
  } finally {
    await gateway?.stop();
    await bareServer.stop();
    data.remove();
    await postgres?.drop();
  }

  options.log('encryption layer against plain store writes…');
  const cost = [...(await encryptionCost({ records: 20_000, durability: 'normal' })), ...(await encryptionCost({ records: 2_000, durability: 'full' }))];

  const figures: Figure[] = [
    { name: 'bare Fastify hello world', value: bare.requestsPerSecond, unit: 'req/s' },
    { name: 'authenticated reads', value: reads.requestsPerSecond, unit: 'req/s', baseline: { name: 'bare', value: bare.requestsPerSecond }, goal: { atLeast: 0.4, text: 'goal ≥ 0.40×' } },
    { name: 'authenticated writes', value: writes.requestsPerSecond, unit: 'req/s', baseline: { name: 'bare', value: bare.requestsPerSecond } },
    ...flood.figures,
    ...cost,
  ];
  for (const [name, r] of [['reads', reads], ['writes', writes]] as const) {
    if (r.errors > 0 || r.non2xx > 0) {
      throw new Error(`the ${name} run had ${r.errors} errors and ${r.non2xx} non-2xx answers: the figures would not be honest`);
    }
  }
  return { machine: machine(), bare, reads, writes, loginFlood: flood, figures };
}
