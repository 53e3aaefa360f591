import { open, seal } from '../crypto/aead.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { KeyUpgrade, RegionStore } from '../store/region-store.js';
import { categoryScope, type KeyHierarchy } from './key-hierarchy.js';
import { storedCategory } from './policy-checks.js';
import { legacyRecordAad, recordAad } from './record-crypto.js';

/** Rows an upgrade rewrites per transaction. */
const batchSize = 500;

export interface RecordKeyUpgradeOptions {
  regionId: string;
  store: RegionStore;
  hierarchy: KeyHierarchy;
  /** Progress lines (default: none). */
  log?: ((line: string) => void) | undefined;
  /**
   * The audit sequence of the store's 'record-keys-sealed' event, if it has one: its upgrade
   * ran to the end, so a row without a sealed key found now was put there afterwards (a row
   * from an older backup, say) and is refused, never re-sealed as current.
   */
  sealedAt?: number | undefined;
}

/**
 * Upgrades a store written by a version before keyIds (its key column holds the clients' keys,
 * its values are sealed without their version), in batches, each one transaction: every record
 * is named by its keyId with its key sealed beside it and its value sealed again for its version;
 * every change entry takes the keyId and sealed key of the record it names, or is deleted when
 * its user has no key here any more (a user moved away or erased: nothing of theirs is here for
 * the entry to name). Run at the node's start, before it serves anything; a store with nothing
 * to upgrade costs one count. A crash midway leaves whole batches done, and the next start goes on.
 */
export async function upgradeRecordKeys(
  options: RecordKeyUpgradeOptions,
): Promise<{ records: number; changes: number }> {
  const { regionId, store, hierarchy, log, sealedAt } = options;
  const total = await store.countUnsealedKeys();
  const done = { records: 0, changes: 0 };
  if (total === 0) return done;
  if (sealedAt !== undefined) {
    // The legacy associated data binds no version: re-sealing such a row would launder an old one.
    throw new DomicileError(
      'INTEGRITY',
      `region ${regionId} holds ${total} rows (records or change-log entries) with no sealed key, though its record keys were all sealed (audit entry ${sealedAt}): rows put back from before the upgrade, which are never upgraded again; find them (sealed_key IS NULL), restore the store from a backup taken after the upgrade or remove them, and start the node again`,
    );
  }
  let left = total;
  const progressed = async () => {
    const now = await store.countUnsealedKeys();
    if (now >= left)
      throw new DomicileError(
        'INTERNAL',
        `region ${regionId}: upgrading record keys to keyIds made no progress (${now} rows left); another process is writing to the store: stop it and start the node again`,
      );
    left = now;
  };
  log?.(
    `region ${regionId}: upgrading ${total} rows whose record keys rest in plaintext (a store written before keyIds)`,
  );
  for (;;) {
    const rows = await store.unsealedRecords(batchSize);
    if (rows.length === 0) break;
    const upgrade: KeyUpgrade = { records: [], changes: [], dropChanges: [] };
    for (const r of rows) {
      const scope = categoryScope(r.service, storedCategory(r.collection));
      const names = await hierarchy.names(r.userId, false);
      const dataKey = await hierarchy.categoryKey(r.userId, scope, false);
      if (!names || !dataKey) {
        throw new DomicileError(
          'INTEGRITY',
          `region ${regionId} holds a ${r.service}/${r.collection} record of user ${r.userId} without its ${names ? scope : 'user'} key: it cannot be upgraded to keyIds (restore the key, or remove the record)`,
        );
      }
      const plain = open(
        dataKey,
        r.ciphertext,
        legacyRecordAad({ regionId, userId: r.userId, service: r.service, collection: r.collection, key: r.key }),
      );
      const key = names.keyId(r.collection, r.key);
      upgrade.records.push({
        userId: r.userId,
        service: r.service,
        collection: r.collection,
        oldKey: r.key,
        key,
        sealedKey: names.seal(r.service, r.collection, key, r.key),
        ciphertext: seal(
          dataKey,
          plain,
          recordAad({
            regionId,
            userId: r.userId,
            service: r.service,
            collection: r.collection,
            key,
            version: r.version,
          }),
        ),
      });
    }
    await store.upgradeKeys(upgrade);
    await progressed();
    done.records += rows.length;
    log?.(`region ${regionId}: ${done.records} records upgraded`);
  }
  for (;;) {
    const entries = await store.unsealedChanges(batchSize);
    if (entries.length === 0) break;
    const upgrade: KeyUpgrade = { records: [], changes: [], dropChanges: [] };
    for (const c of entries) {
      const names = await hierarchy.names(c.userId, false);
      if (!names) upgrade.dropChanges.push(c.seq);
      else {
        const key = names.keyId(c.collection, c.key);
        upgrade.changes.push({ seq: c.seq, key, sealedKey: names.seal(c.service, c.collection, key, c.key) });
      }
    }
    await store.upgradeKeys(upgrade);
    await progressed();
    done.changes += entries.length;
    log?.(`region ${regionId}: ${done.changes} change-log entries upgraded`);
  }
  log?.(
    `region ${regionId}: record keys upgraded to keyIds (${done.records} records, ${done.changes} change-log entries)`,
  );
  return done;
}
