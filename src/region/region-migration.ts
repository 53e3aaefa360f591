import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { isAllowed } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { ImportedRecord, RegionStore, StoredRecord, Tenancy, TenancyStatus } from '../store/region-store.js';
import { canonicalJson } from './canonical-json.js';
import { categoryScope, type KeyHierarchy } from './key-hierarchy.js';
import {
  checkAfterSeq,
  checkLimit,
  checkMovedTo,
  checkRefs,
  checkSetEpoch,
  checkStates,
  checkStatus,
  checkUserIds,
  storedCategory,
  type CheckedMovedRecord,
} from './migration-validation.js';
import { encodeValue, openValue, sealValue, type RecordAddress } from './record-crypto.js';
import type { ChangeView, ExportedUser, MovedRecord, RecordStates, UserDigest } from './region-client.js';
import { checkEpoch, checkId, checkMarket, checkObject, checkService } from './request-validation.js';
import { userDigest } from './user-digest.js';

export interface RegionMigrationOptions {
  regionId: string;
  policy: Policy;
  store: RegionStore;
  /** The node's own key hierarchy (and its cache, which a purge must clear). */
  hierarchy: KeyHierarchy;
  maxValueBytes: number;
}

/** Below this many puts an import looks records up one by one; from it on, lists the user's once. */
const listThreshold = 16;

/**
 * A region's side of a live migration, as RegionNode exposes it (see RegionClient's "Migration
 * primitives"). Values leave decrypted only through exportUsers and readRecordStates, and
 * arrive only through importRecords, which seals them under this region's own keys: no key
 * material ever crosses. Every method is one store call that changes anything, so a crash
 * leaves each either done or not done, and the coordinator can repeat it.
 */
export class RegionMigration {
  private readonly regionId: string;
  private readonly policy: Policy;
  private readonly store: RegionStore;
  private readonly hierarchy: KeyHierarchy;
  private readonly maxValueBytes: number;

  constructor(options: RegionMigrationOptions) {
    this.regionId = options.regionId;
    this.policy = options.policy;
    this.store = options.store;
    this.hierarchy = options.hierarchy;
    this.maxValueBytes = options.maxValueBytes;
  }

  /** Whatever the tenancy's status (a fenced source is exported too); WRONG_REGION for a user with none here. */
  async exportUsers(req: { service: string; userIds: string[] }): Promise<ExportedUser[]> {
    const r = checkObject(req, 'exportUsers');
    const service = checkService(this.policy, r.service);
    const userIds = checkUserIds(r.userIds);
    const exported: ExportedUser[] = [];
    for (const userId of userIds) {
      const tenancy = await this.knownTenancy(userId, service);
      // One listing per user: a consistent snapshot of that user's records.
      const stored = await this.store.listRecords(userId, service);
      const records: MovedRecord[] = [];
      for (const record of stored) records.push(await this.moved(record));
      exported.push({ userId, market: tenancy.market, records });
    }
    return exported;
  }

  async readRecordStates(req: { service: string; userId: string; refs: Array<{ collection: string; key: string }> }): Promise<RecordStates> {
    const r = checkObject(req, 'readRecordStates');
    const service = checkService(this.policy, r.service);
    const userId = checkId(r.userId, 'userId');
    const refs = checkRefs(this.policy, service, r.refs, 'refs');
    // A user unknown here is refused rather than reported as all deleted: asked of the wrong
    // region, "deleted" would make the coordinator delete the user's data at the destination.
    await this.knownTenancy(userId, service);
    const states: RecordStates = { records: [], deleted: [] };
    const seen = new Set<string>();
    for (const ref of refs) {
      const name = JSON.stringify([ref.collection, ref.key]);
      if (seen.has(name)) continue;
      seen.add(name);
      const stored = await this.store.getRecord(userId, service, ref.collection, ref.key);
      if (stored) states.records.push(await this.moved(stored));
      else states.deleted.push({ collection: ref.collection, key: ref.key });
    }
    return states;
  }

  /**
   * lastSeq is read before the page, and raised to the page's last entry: every entry up to it
   * that matches is in this page or, if the page is full, after its last entry. So a caller
   * resumes after the last entry when the page is full, and may resume after lastSeq when not.
   */
  async changesSince(req: { afterSeq: number; limit: number; service?: string }): Promise<{ changes: ChangeView[]; lastSeq: number }> {
    const r = checkObject(req, 'changesSince');
    const afterSeq = checkAfterSeq(r.afterSeq);
    const limit = checkLimit(r.limit);
    const service = r.service === undefined ? undefined : checkService(this.policy, r.service);
    const before = await this.store.lastSeq();
    const entries = await this.store.changesSince(afterSeq, limit, service);
    const changes = entries.map((c): ChangeView => ({
      seq: c.seq, userId: c.userId, service: c.service, collection: c.collection, key: c.key, op: c.op, version: c.version,
    }));
    return { changes, lastSeq: Math.max(before, changes.at(-1)?.seq ?? 0) };
  }

  /**
   * Sets the records to the given states under this region's keys, keeping the source's
   * versions and updatedAt. A record already here at the same version with the same value
   * (compared as canonical JSON of the plaintext) is left alone, so a state applied twice
   * changes nothing the second time; any other (absent, another version, another value, or
   * unreadable) is overwritten: the source's state is the truth, even at a lower version (a
   * record deleted and written again starts over at 1). Deleted records are removed if present.
   */
  async importRecords(req: { service: string; userId: string; market: string; epoch: number; states: RecordStates }): Promise<{ applied: number }> {
    const r = checkObject(req, 'importRecords');
    const service = checkService(this.policy, r.service);
    const userId = checkId(r.userId, 'userId');
    const market = checkMarket(r.market);
    const epoch = checkEpoch(r.epoch);
    const states = checkStates(this.policy, service, r.states);
    const encoded = states.records.map((rec) => ({ rec, json: this.encode(rec) }));
    // Checked before any key is made; the store checks again in the import's own transaction.
    const tenancy = await this.store.getTenancy(userId, service);
    // A new destination must be allowed by the policy. A source the user is moving away from
    // ('fenced' or 'moved') still takes the reverse stream until the move completes: during a
    // move the data rests in the source and the destination alone (invariant 1), and that is
    // what lets a rollback lose nothing even when the new policy no longer allows the source.
    if (tenancy === undefined || tenancy.status === 'incoming') this.checkPlacement(market, service);
    if (tenancy?.status === 'home') {
      throw new DomicileError('CONFLICT', `cannot import into user ${userId}'s ${service} data here: this region is their home (tenancy home)`, {
        details: { status: 'home', service },
      });
    }
    const current = await this.currentRecords(userId, service, states.records);
    const puts: ImportedRecord[] = [];
    for (const { rec, json } of encoded) {
      const existing = current.get(JSON.stringify([rec.collection, rec.key]));
      if (existing && existing.version === rec.version && (await this.sameValue(existing, rec.category, json))) continue;
      const dataKey = await this.hierarchy.categoryKey(userId, categoryScope(service, rec.category), true);
      const ciphertext = sealValue(dataKey, json, this.address(userId, service, rec.collection, rec.key));
      puts.push({ collection: rec.collection, key: rec.key, version: rec.version, ciphertext, updatedAt: rec.updatedAt });
    }
    const deletes = states.deleted.map((d) => ({ collection: d.collection, key: d.key }));
    const result = await this.store.importRecords({ userId, service, market, epoch, puts, deletes });
    return { applied: result.applied };
  }

  /** Computed on the decrypted values; INTEGRITY, naming the record, for one that does not open. */
  async digestUser(req: { service: string; userId: string }): Promise<UserDigest> {
    const r = checkObject(req, 'digestUser');
    const service = checkService(this.policy, r.service);
    const userId = checkId(r.userId, 'userId');
    const records: MovedRecord[] = [];
    for (const stored of await this.store.listRecords(userId, service)) records.push(await this.moved(stored));
    return userDigest(userId, records);
  }

  /**
   * Any status at any epoch not below the stored one. 'incoming' (data is about to rest here)
   * is checked against the policy like an import; the others are not: a roll-back makes the
   * source home again even where a newer policy would no longer place the user.
   */
  async setTenancy(req: { userId: string; service: string; market: string; epoch: number; status: TenancyStatus; movedTo: string | null }): Promise<void> {
    const r = checkObject(req, 'setTenancy');
    const userId = checkId(r.userId, 'userId');
    const service = checkService(this.policy, r.service);
    const market = checkMarket(r.market);
    const epoch = checkSetEpoch(r.epoch);
    const status = checkStatus(r.status);
    const movedTo = checkMovedTo(this.policy, this.regionId, status, r.movedTo);
    if (status === 'incoming') this.checkPlacement(market, service);
    await this.store.advanceTenancy({ userId, service, market, epoch, status, movedTo });
  }

  /** Shreds the user's keys of the service (and the user key when nothing else needs it), then forgets them. */
  async purgeUser(req: { userId: string; service: string }): Promise<{ records: number; keys: number }> {
    const r = checkObject(req, 'purgeUser');
    const userId = checkId(r.userId, 'userId');
    const service = checkService(this.policy, r.service);
    const result = await this.store.purgeTenant(userId, service);
    // A cached key would otherwise seal new records under a key the store no longer holds.
    this.hierarchy.forget(userId, `${service}/`);
    if (!(await this.store.getKey(userId, ''))) this.hierarchy.forget(userId);
    return { records: result.records, keys: result.keys };
  }

  /**
   * The placement invariant, where the data would rest: a region the policy does not allow for
   * the market and service (a planned one has no node at all) never receives their data.
   */
  private checkPlacement(market: string, service: string): void {
    if (!isAllowed(this.policy, market, service, this.regionId)) {
      throw new DomicileError('FORBIDDEN', `policy "${this.policy.name}" does not let service ${service} data of market ${market} rest in region ${this.regionId}`, {
        details: { market, service, region: this.regionId },
      });
    }
  }

  private async knownTenancy(userId: string, service: string): Promise<Tenancy> {
    const tenancy = await this.store.getTenancy(userId, service);
    if (!tenancy) {
      throw new DomicileError('WRONG_REGION', `region ${this.regionId} holds no tenancy of user ${userId} for service ${service}`, {
        details: { home: null, service },
      });
    }
    return tenancy;
  }

  private encode(rec: CheckedMovedRecord): Buffer {
    try {
      return encodeValue(rec.value, this.maxValueBytes);
    } catch (err) {
      if (!isDomicileError(err)) throw err;
      throw new DomicileError(err.code, `record ${rec.collection}/${rec.key}: ${err.message}`, { cause: err, details: { ...err.details, collection: rec.collection, key: rec.key } });
    }
  }

  /** The records already here that the puts name, by [collection, key]. */
  private async currentRecords(userId: string, service: string, puts: readonly CheckedMovedRecord[]): Promise<Map<string, StoredRecord>> {
    const found = new Map<string, StoredRecord>();
    const add = (s: StoredRecord) => found.set(JSON.stringify([s.collection, s.key]), s);
    // A copy sends many records of a user (one listing is cheaper); a catch-up, a few.
    if (puts.length >= listThreshold) {
      for (const stored of await this.store.listRecords(userId, service)) add(stored);
    } else {
      for (const p of puts) {
        const stored = await this.store.getRecord(userId, service, p.collection, p.key);
        if (stored) add(stored);
      }
    }
    return found;
  }

  /** Whether a stored record holds this value; one that does not open is not the same (the import repairs it). */
  private async sameValue(stored: StoredRecord, category: string, json: Buffer): Promise<boolean> {
    try {
      const value = await this.open(stored, category);
      return canonicalJson(value) === canonicalJson(JSON.parse(json.toString('utf8')));
    } catch (err) {
      if (isDomicileError(err, 'INTEGRITY')) return false;
      throw err;
    }
  }

  private async moved(stored: StoredRecord): Promise<MovedRecord> {
    let value: unknown;
    try {
      value = await this.open(stored, storedCategory(stored.collection));
    } catch (err) {
      if (!isDomicileError(err, 'INTEGRITY')) throw err;
      throw new DomicileError('INTEGRITY', `record ${stored.service}/${stored.collection}/${stored.key} of user ${stored.userId} in region ${this.regionId} does not open: ${err.message}`, {
        cause: err, details: { userId: stored.userId, service: stored.service, collection: stored.collection, key: stored.key },
      });
    }
    return { collection: stored.collection, key: stored.key, version: stored.version, updatedAt: stored.updatedAt, value };
  }

  private async open(stored: StoredRecord, category: string): Promise<unknown> {
    const scope = categoryScope(stored.service, category);
    const dataKey = await this.hierarchy.categoryKey(stored.userId, scope, false);
    if (!dataKey) {
      throw new DomicileError('INTEGRITY', `record ${stored.service}/${stored.collection}/${stored.key} of user ${stored.userId} has no ${scope} key in region ${this.regionId} (was it shredded?)`);
    }
    return openValue(dataKey, stored.ciphertext, this.address(stored.userId, stored.service, stored.collection, stored.key));
  }

  private address(userId: string, service: string, collection: string, key: string): RecordAddress {
    return { regionId: this.regionId, userId, service, collection, key };
  }
}
