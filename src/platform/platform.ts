import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { BlindIndex } from '../crypto/blind-index.js';
import type { Directory, HomeEntry } from '../directory/directory.js';
import { PostgresDirectory } from '../directory/postgres-directory.js';
import { SqliteDirectory } from '../directory/sqlite-directory.js';
import type { DsarStore } from '../dsar/dsar-requests.js';
import { type DsarOptions, DsarService, dsarLeaseFromEnv, openDsarStore } from '../dsar/dsar-service.js';
import { DomicileError } from '../errors/domicile-error.js';
import { liveRegions } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import { HttpRegionClient } from '../region/http-region-client.js';
import { InProcessRegionClient } from '../region/in-process-region-client.js';
import { openRegionNode } from '../region/open-region-node.js';
import type { RegionClient } from '../region/region-client.js';
import type { CallerTls } from '../region/region-tls.js';
import type { Catalog } from '../services/shop/catalog.js';
import { tracedRegionClient } from '../wan/region-trace.js';
import { openShop, type Shop } from './open-shop.js';
import { loadOrCreateSecret } from './secret-file.js';
import { checkSharedSecrets } from './shared-secrets.js';

export interface PlatformOptions {
  policy: Policy;
  /** Where the embedded default keeps every file (default `.domicile`). */
  dataDir: string;
  /** Regions that run as their own process (`domicile region`): region id → base URL. */
  remoteRegions?: Record<string, string>;
  /** How https:// regions are reached: the CA their certificates chain to, this gateway's own certificate (region-tls.ts). */
  regionTls?: CallerTls | undefined;
  /** SQLite durability of the embedded regions (default 'full'). */
  durability?: 'full' | 'normal';
  /**
   * For tools that only read (audit verify, reports): the regions record no policy change and
   * pending erasures are left for the platform itself, so that reading changes nothing.
   */
  readOnly?: boolean;
  /**
   * A PostgreSQL directory (postgres://…) that several gateway processes share, and the
   * migration coordinator's state beside it; default: the embedded SQLite directory in the
   * data folder, which only this process opens.
   */
  directoryUrl?: string | undefined;
  /** The Mi store's catalog and flash sales (default: the scenario's `examples/catalog.yaml`). */
  catalog?: Catalog | undefined;
  /** Where the platform's background work reports (the flash sales' order writer). */
  log?: (line: string) => void;
  /** Note every region call in the calling request's region trace (for the WAN emulation; see region-trace.ts). */
  traceRegionCalls?: boolean;
  /** How erasures are leased and carried (tests shorten the lease, or stop a gateway mid-way). */
  dsar?: DsarOptions;
}

export interface PlatformSecrets {
  /** Signs user tokens (HS256). */
  jwtKey: string;
  /** Keys the blind index of login identifiers. */
  indexKey: string;
  /**
   * Keys contact discovery's hashes of phone numbers: handed to users' phones (it is not the
   * login index's key), which hash their contacts with it, so no number ever leaves a phone.
   */
  discoveryKey: string;
  /** The operator credential for /v1/ops and the CLI. */
  operatorToken: string;
  /** Authenticates the gateway to region nodes that run as their own process. */
  nodeToken: string;
}

export function secretPaths(dataDir: string): Record<keyof PlatformSecrets, string> {
  const dir = join(dataDir, 'secrets');
  return {
    jwtKey: join(dir, 'jwt.key'),
    indexKey: join(dir, 'index.key'),
    discoveryKey: join(dir, 'discovery.key'),
    operatorToken: join(dir, 'operator.token'),
    nodeToken: join(dir, 'node.token'),
  };
}

export function loadSecrets(dataDir: string): PlatformSecrets {
  const paths = secretPaths(dataDir);
  return {
    jwtKey: loadOrCreateSecret(paths.jwtKey),
    indexKey: loadOrCreateSecret(paths.indexKey),
    discoveryKey: loadOrCreateSecret(paths.discoveryKey),
    operatorToken: process.env.DOMICILE_OPERATOR_TOKEN ?? loadOrCreateSecret(paths.operatorToken),
    nodeToken: process.env.DOMICILE_NODE_TOKEN ?? loadOrCreateSecret(paths.nodeToken),
  };
}

/**
 * Everything the gateway and the operator commands stand on: the policy, the directory and a
 * RegionClient per live region (in-process nodes for the embedded default, HTTP clients for
 * regions that run as their own process).
 */
export class Platform {
  /** Keyed blind index of login identifiers: the directory never sees them in plaintext. */
  readonly blindIndex: BlindIndex;
  /**
   * Recently used directory homes, keyed "userId\0service". Safe to serve from because every
   * region checks the epoch it is called with against its own tenancy: see route-to-home.ts.
   */
  readonly homeCache = new LRUCache<string, HomeEntry>({ max: 100_000 });
  /** Data subject requests: exports and erasures across every region. */
  readonly dsar: DsarService;
  /** The Mi store: catalog and flash sales (set once, as the platform opens). */
  shop!: Shop;

  private constructor(
    readonly policy: Policy,
    readonly dataDir: string,
    readonly directory: Directory,
    readonly regions: ReadonlyMap<string, RegionClient>,
    readonly secrets: PlatformSecrets,
    /** The shared PostgreSQL directory's URL, if it has one (the migration coordinator's state rests beside it). */
    readonly directoryUrl: string | undefined,
    dsarStore: DsarStore,
    dsarOptions: DsarOptions | undefined,
  ) {
    this.blindIndex = new BlindIndex(secrets.indexKey);
    this.dsar = new DsarService({
      store: dsarStore,
      options: dsarOptions,
      directory,
      regions,
      forget: (userId) => {
        for (const k of [...this.homeCache.keys()]) if (k.startsWith(`${userId}\u0000`)) this.homeCache.delete(k);
      },
    });
  }

  static async open(options: PlatformOptions): Promise<Platform> {
    const { policy, dataDir } = options;
    const remote = options.remoteRegions ?? {};
    for (const id of Object.keys(remote)) {
      if (!policy.regions.some((r) => r.id === id)) {
        throw new DomicileError(
          'BAD_REQUEST',
          `--region-url names region "${id}", which policy "${policy.name}" does not declare; use one of: ${policy.regions.map((r) => r.id).join(', ')}`,
        );
      }
    }
    const dsarOptions: DsarOptions = { leaseMs: dsarLeaseFromEnv(), ...options.dsar };
    const secrets = loadSecrets(dataDir);
    const directory: Directory = options.directoryUrl
      ? new PostgresDirectory(options.directoryUrl)
      : new SqliteDirectory(join(dataDir, 'directory', 'directory.db'));
    await directory.init();
    let dsarStore: DsarStore;
    try {
      // A gateway whose secrets are not the others' would split the users: it refuses to start.
      // (A tool that only reads issues no token and indexes no login: it records and checks nothing.)
      if (options.directoryUrl && !options.readOnly) await checkSharedSecrets(options.directoryUrl, secrets, dataDir);
      dsarStore = await openDsarStore(dataDir, options.directoryUrl);
    } catch (err) {
      await directory.close();
      throw err;
    }
    const regions = new Map<string, RegionClient>();
    try {
      for (const region of liveRegions(policy)) {
        const url = remote[region.id];
        if (url !== undefined) {
          regions.set(
            region.id,
            new HttpRegionClient({
              regionId: region.id,
              baseUrl: url,
              nodeToken: secrets.nodeToken,
              tls: options.regionTls,
            }),
          );
        } else {
          const node = await openRegionNode({
            policy,
            regionId: region.id,
            dataDir,
            durability: options.durability ?? 'full',
            recordPolicy: !options.readOnly,
            log: options.log,
          });
          regions.set(region.id, new InProcessRegionClient(node));
        }
      }
    } catch (err) {
      await Promise.allSettled([...regions.values()].map((r) => r.close()));
      await dsarStore.close();
      await directory.close();
      throw err;
    }
    if (options.traceRegionCalls) for (const [id, client] of regions) regions.set(id, tracedRegionClient(client, id));
    const platform = new Platform(
      policy,
      dataDir,
      directory,
      regions,
      secrets,
      options.directoryUrl,
      dsarStore,
      dsarOptions,
    );
    try {
      platform.shop = await openShop(platform, {
        catalog: options.catalog,
        readOnly: options.readOnly ?? false,
        durability: options.durability ?? 'full',
        log: options.log,
      });
    } catch (err) {
      await platform.close();
      throw err;
    }
    // An erasure a crash interrupted goes on now; one a region still refuses stays pending.
    if (!options.readOnly) await platform.dsar.resume();
    return platform;
  }

  /** The client of a live region; UNAVAILABLE for a planned or unknown one. */
  region(regionId: string): RegionClient {
    const client = this.regions.get(regionId);
    if (!client) {
      throw new DomicileError(
        'UNAVAILABLE',
        `region ${regionId} is not running under policy "${this.policy.name}" (it is planned or unknown)`,
        { details: { region: regionId } },
      );
    }
    return client;
  }

  async close(): Promise<void> {
    // Sales and erasures both stop taking work at once (an erasure under way stops at its next
    // step and is handed back): the orders being written and the steps under way finish before
    // the regions they go to close.
    await Promise.all([this.shop?.sales?.close(), this.dsar.close()]);
    await Promise.allSettled([...this.regions.values()].map((r) => r.close()));
    await this.directory.close();
  }
}
