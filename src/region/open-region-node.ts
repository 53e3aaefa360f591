import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AuditSigner } from '../audit/audit-signer.js';
import { KeyringKeySource } from '../crypto/keyring-key-source.js';
import type { ScryptParams } from '../crypto/password.js';
import { DomicileError } from '../errors/domicile-error.js';
import { findRegion } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import { BlobSpillingStore } from '../store/blob-spilling-store.js';
import { PostgresRegionStore } from '../store/postgres/postgres-region-store.js';
import type { RegionStore } from '../store/region-store.js';
import { SqliteRegionStore } from '../store/sqlite/sqlite-region-store.js';
import { RegionNode } from './region-node.js';

export interface OpenRegionNodeOptions {
  policy: Policy;
  regionId: string;
  /** The data folder; the region's files go under <dataDir>/regions/<id>/ unless the policy says otherwise. */
  dataDir: string;
  /** SQLite durability (default 'full': an acknowledged write survives power loss). */
  durability?: 'full' | 'normal';
  /** scrypt cost of new password hashes (default: defaultScryptParams). */
  scrypt?: ScryptParams;
  /** Progress of the node's start-up work (an old store's upgrade to keyIds); default: none. */
  log?: ((line: string) => void) | undefined;
  /**
   * Hold the store's file lock while open (default true): no other process can open the
   * region's data while its node runs. Tests that play an attacker editing the file turn it off.
   */
  exclusive?: boolean;
  /** Record the policy in the audit log when it changed (default true; false for read-only tools such as `audit verify`). */
  recordPolicy?: boolean;
  /** Most levels a record value nests (default 64; see RegionNodeOptions). */
  maxValueDepth?: number;
}

/** The default places of a region's files. */
export function regionPaths(
  dataDir: string,
  regionId: string,
): { dir: string; store: string; keyring: string; auditKey: string } {
  const dir = join(dataDir, 'regions', regionId);
  return {
    dir,
    store: join(dir, 'store.db'),
    keyring: join(dir, 'keyring.json'),
    auditKey: join(dir, 'audit-signing-key.json'),
  };
}

/**
 * Opens a region's node on this machine: its store (SQLite at <dataDir>/regions/<id>/store.db,
 * or region.store.path, with its large values in files under store.db-blobs/ beside it), its keyring (<dataDir>/regions/<id>/keyring.json, or region.keys.path)
 * and its audit signing key beside the keyring, creating folders and fresh keys on first start.
 */
export async function openRegionNode(options: OpenRegionNodeOptions): Promise<RegionNode> {
  const { policy, regionId, dataDir } = options;
  const region = findRegion(policy, regionId);
  if (!region) {
    throw new DomicileError(
      'BAD_REQUEST',
      `policy "${policy.name}" declares no region "${regionId}"; use one of: ${policy.regions.map((r) => r.id).join(', ')}`,
      {
        details: { region: regionId },
      },
    );
  }
  const defaults = regionPaths(dataDir, regionId);
  // Relative paths in the policy are taken from the data folder, not from wherever the process started.
  const keyringPath = region.keys.path === undefined ? defaults.keyring : resolve(dataDir, region.keys.path);
  mkdirSync(dirname(keyringPath), { recursive: true, mode: 0o700 });

  const keys = KeyringKeySource.open({ path: keyringPath, regionId });
  // Beside the keyring, wherever the policy puts that: the region's secrets stay together.
  const signer = AuditSigner.open({
    path: region.keys.path === undefined ? defaults.auditKey : join(dirname(keyringPath), 'audit-signing-key.json'),
    regionId,
  });
  let store: RegionStore;
  if (region.store.kind === 'postgres') {
    // The region's own database, in its country; several node processes of the region may share it.
    store = new PostgresRegionStore({ url: region.store.url });
  } else {
    const storePath = region.store.path === undefined ? defaults.store : resolve(dataDir, region.store.path);
    mkdirSync(dirname(storePath), { recursive: true, mode: 0o700 });
    const durability = options.durability ?? 'full';
    // Large values (photo chunks, big backups) rest in files beside the database: the region's blob store.
    store = new BlobSpillingStore(
      new SqliteRegionStore({ path: storePath, durability, exclusive: options.exclusive ?? true }),
      {
        dir: `${storePath}-blobs`,
        durable: durability === 'full',
      },
    );
  }
  try {
    await store.init();
    const node = new RegionNode({
      regionId,
      policy,
      store,
      keys,
      signer,
      recordPolicy: options.recordPolicy ?? true,
      log: options.log,
      ...(options.scrypt ? { scrypt: options.scrypt } : {}),
      ...(options.maxValueDepth === undefined ? {} : { maxValueDepth: options.maxValueDepth }),
    });
    await node.init();
    return node;
  } catch (err) {
    await store.close();
    throw err;
  }
}
