import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { passwordChecks } from '../crypto/password.js';
import type { AuthThrottleOptions } from '../gateway/auth-throttle.js';
import { checkAuthThrottle } from '../gateway/auth-throttle.js';
import { buildGateway } from '../gateway/build-gateway.js';
import { clientMarketHeader } from '../gateway/wan-hooks.js';
import { MigrationEngine } from '../migrate/migration-engine.js';
import { Platform, secretPaths } from '../platform/platform.js';
import { loadPolicyFile } from '../policy/load-policy.js';
import { loadCallerTls, plainHttpWarning } from '../region/region-tls.js';
import { loadCatalogFile } from '../services/shop/catalog.js';
import type { BoundedConcurrencyOptions } from '../shared/bounded-concurrency.js';
import type { RateLimit } from '../shared/keyed-rate-limiter.js';
import { emulatedMarkets, loadLatencyFile } from '../wan/load-latency.js';
import { WanEmulator } from '../wan/wan-emulator.js';
import { resolvePolicyFile, runtimeFile } from './cli-options.js';
import type { RuntimeInfo } from './operator-api.js';
import { untilStopped } from './until-stopped.js';

export interface UpOptions {
  policy?: string | undefined;
  data: string;
  port: number;
  host: string;
  regionUrl?: Record<string, string> | undefined;
  /** Files of the CA that signed the regions' certificates, and of this gateway's own certificate and key (https:// regions). */
  regionTls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined;
  durability?: 'full' | 'normal' | undefined;
  /** A PostgreSQL directory several gateways share (default: the embedded one in the data folder). */
  directoryUrl?: string | undefined;
  /** The Mi store's catalog file (default: the scenario's). */
  catalog?: string | undefined;
  /** A latency file: hold each response of a client that names its market by that market's network time. */
  emulateWan?: string | undefined;
  /** Limits on logins and registrations (defaults: defaultAuthThrottle); this gateway counts its own. */
  throttle?: Partial<AuthThrottleOptions> | undefined;
  /** Load balancers whose X-Forwarded-For gives the client address (default: none). */
  trustProxy?: string[] | undefined;
  /** Password hashes at once in this process, and how many may wait (default: defaultPasswordChecks). */
  passwordChecks?: BoundedConcurrencyOptions | undefined;
  /** The photo bytes each user may keep (default: the gateway's, 5 GiB). */
  photoQuota?: number | undefined;
}

/** `domicile up`: the gateway and every live region (embedded default) in this process. */
export async function runUp(options: UpOptions): Promise<number> {
  // Bounds are checked before anything opens: a bad flag changes nothing.
  if (options.passwordChecks) passwordChecks.configure(options.passwordChecks);
  const policyFile = resolvePolicyFile(options.policy);
  const policy = await loadPolicyFile(policyFile);
  const dataDir = resolve(options.data);
  const catalog = options.catalog === undefined ? undefined : await loadCatalogFile(resolve(options.catalog));
  const wan =
    options.emulateWan === undefined
      ? undefined
      : new WanEmulator(await loadLatencyFile(resolve(options.emulateWan)), policy, options.emulateWan);
  for (const [id, url] of Object.entries(options.regionUrl ?? {})) {
    const warning = plainHttpWarning(id, url);
    if (warning) process.stderr.write(`domicile: warning: ${warning}\n`);
  }
  const regionTls = loadCallerTls(options.regionTls ?? {});
  const log = { line: (_: string) => {} };
  const platform = await Platform.open({
    policy,
    dataDir,
    remoteRegions: options.regionUrl ?? {},
    regionTls,
    durability: options.durability ?? 'full',
    directoryUrl: options.directoryUrl,
    catalog,
    log: (line) => log.line(line),
    traceRegionCalls: wan !== undefined,
  });
  // The migration coordinator runs here, beside the users it moves; its lines go to the log.
  let migrations: MigrationEngine;
  try {
    migrations = await MigrationEngine.open({ host: platform, log: (line) => log.line(line) });
  } catch (err) {
    await platform.close();
    throw err;
  }
  let app: Awaited<ReturnType<typeof buildGateway>>;
  try {
    app = await buildGateway(platform, {
      logger: process.env.DOMICILE_LOG !== 'off',
      migrations,
      wan,
      throttle: options.throttle,
      trustProxy: options.trustProxy,
      ...(options.photoQuota === undefined ? {} : { photoQuotaBytes: options.photoQuota }),
    });
  } catch (err) {
    await migrations.close();
    await platform.close();
    throw err;
  }
  log.line = (line) => app.log.info({ component: 'migrate' }, line);
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (err) {
    await migrations.close();
    await platform.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  const runtime: RuntimeInfo = { url, pid: process.pid, policyFile, startedAt: new Date().toISOString() };
  writeFileSync(runtimeFile(dataDir), `${JSON.stringify(runtime, null, 2)}\n`);

  const lines = [
    `Domicile is up: policy "${policy.name}" (version ${policy.version}), data in ${dataDir}`,
    `  gateway   ${url}`,
    `  API docs  ${url}/docs`,
    `  health    ${url}/healthz`,
    `  operator  credential in ${secretPaths(dataDir).operatorToken}`,
    ...[...platform.regions.values()].map(
      (r) =>
        `  region    ${r.regionId}${options.regionUrl?.[r.regionId] ? ` at ${options.regionUrl[r.regionId]}` : ' (in this process)'}`,
    ),
    ...(options.directoryUrl
      ? [
          `  migrations coordinated in the shared directory's database: ${migrations.leads ? 'this gateway leads them' : 'another gateway leads them; this one steers, and leads if that one stops'}`,
        ]
      : []),
    ...(await interruptedNotice(migrations)),
    `  shop      ${url}/v1/catalog${platform.shop.sales ? `; flash sales ${platform.shop.sales.saleIds().join(', ')}` : `; no flash sales: ${platform.shop.noSales ?? ''}`}`,
    `  dashboard ${url}/dashboard/`,
    limitsLine(checkAuthThrottle(options.throttle), options.trustProxy),
    ...(wan
      ? [
          `  WAN       emulated from ${options.emulateWan} (${wan.latency.name}) for ${emulatedMarkets(wan.latency, policy).join(', ')}: a request with ${clientMarketHeader}: <market> is held back by that market's network time`,
        ]
      : []),
    'Press Ctrl-C to stop.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  // An erasure a region could not do yet (it was down) is tried again every half minute (a lease),
  // not only at the next start; one that another gateway left (it died) once its lease ran out.
  const retry = setInterval(
    () => {
      platform.dsar
        .resume()
        .catch((err: unknown) => process.stderr.write(`pending erasures: ${(err as Error).message}\n`));
    },
    Math.min(60_000, platform.dsar.leaseMs),
  );
  const signal = await untilStopped();
  clearInterval(retry);
  process.stdout.write(`\nStopping (${signal})…\n`);
  await app.close();
  await migrations.close();
  await platform.close();
  rmSync(runtimeFile(dataDir), { force: true });
  process.stdout.write('Stopped.\n');
  return 0;
}

/** A migration that was running when the platform stopped waits for an operator. */
async function interruptedNotice(migrations: MigrationEngine): Promise<string[]> {
  const m = await migrations.status();
  if (m?.state !== 'interrupted' && m?.state !== 'failed') return [];
  return [
    `  migration ${m.id} is ${m.state}: \`domicile migrate status\` to see it, \`domicile migrate resume\` to go on, \`domicile migrate rollback\` to undo it`,
  ];
}

function rate(r: RateLimit): string {
  const unit =
    r.windowSeconds % 3600 === 0
      ? ([3600, 'h'] as const)
      : r.windowSeconds % 60 === 0
        ? ([60, 'm'] as const)
        : ([1, 's'] as const);
  return `${r.limit}/${r.windowSeconds / unit[0]}${unit[1]}`;
}

/** What a flood meets at this gateway, so that an operator sees the limits it runs with. */
function limitsLine(t: AuthThrottleOptions, trustProxy: string[] | undefined): string {
  const { concurrency, maxQueue } = passwordChecks.limits;
  return (
    `  limits    logins ${rate(t.loginsPerIdentifier)} per phone or e-mail, ${rate(t.loginsPerAddress)} per address; registrations ${rate(t.registrationsPerAddress)} per address (this gateway's count), refusals held ${t.refusalDelayMs} ms; ` +
    `${concurrency} password hash${concurrency === 1 ? '' : 'es'} at once, ${maxQueue} waiting; client address from ${trustProxy?.length ? `X-Forwarded-For of ${trustProxy.join(', ')}` : 'the TCP peer'}`
  );
}
