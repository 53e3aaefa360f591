import type { AuditLog } from '../audit/audit-log.js';
import { consentCollection, gatedCategories, parseLedger } from '../consent/consent-ledger.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { isAllowed } from '../policy/placement.js';
import type { Policy } from '../policy/policy-schema.js';
import type { ImportedRecord, RegionStore, StoredRecord, Tenancy } from '../store/region-store.js';
import { categoryScope, type KeyHierarchy, keyId } from './key-hierarchy.js';
import {
  type CheckedMovedRecord,
  checkService,
  checkStates,
  checkTenancyChanges,
  movedCategory,
  storedCategory,
} from './policy-checks.js';
import { encodeValue, openPlain, parsePlain, type RecordAddress, sealValue } from './record-crypto.js';
import { byName, type RecordNames } from './record-names.js';
import type {
  ChangeView,
  ExportedRecord,
  ExportedUser,
  RecordStates,
  RegionRequest,
  UserDigest,
} from './region-client.js';
import { digestKeyBytes, plainHash, userDigest } from './user-digest.js';

export interface RegionMigrationOptions {
  regionId: string;
  policy: Policy;
  store: RegionStore;
  /** The node's own key hierarchy (and its cache, which a purge must clear). */
  hierarchy: KeyHierarchy;
  maxValueBytes: number;
  /** The region's audit log: a purge is a key shred. */
  audit: AuditLog;
}

/** A record's name within a user's service: checked names hold no control characters, so NUL separates them. */
function refName(collection: string, key: string): string {
  return `${collection}\u0000${key}`;
}

/** The users' record names here, looked up once each (absent: the user has no key here). */
type NamesOf = (userId: string) => Promise<RecordNames | undefined>;

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
  private readonly audit: AuditLog;

  constructor(options: RegionMigrationOptions) {
    this.audit = options.audit;
    this.regionId = options.regionId;
    this.policy = options.policy;
    this.store = options.store;
    this.hierarchy = options.hierarchy;
    this.maxValueBytes = options.maxValueBytes;
  }

  /** Whatever the tenancy's status (a fenced source is exported too); WRONG_REGION for a user with none here. */
  async exportUsers(r: RegionRequest<'exportUsers'>): Promise<ExportedUser[]> {
    const service = checkService(this.policy, r.service);
    const { userIds } = r;
    const digestKey = digestKeyBytes(r.digestKey);
    const exported: ExportedUser[] = [];
    // One read of the batch (a constant number of statements); each user's records a consistent snapshot.
    for (const { userId, erased, tenancy, records } of await this.store.exportTenants(service, userIds)) {
      // An erased user has nothing to export: left out, so a migration carries on without them.
      if (erased) continue;
      if (!tenancy) throw this.wrongRegion(userId, service);
      exported.push({
        userId,
        market: tenancy.market,
        records: (await this.exported(records, digestKey)).sort(byName),
      });
    }
    return exported;
  }

  async readRecordStates(r: RegionRequest<'readRecordStates'>): Promise<RecordStates<ExportedRecord>> {
    const service = checkService(this.policy, r.service);
    const { userId } = r;
    const refs = r.refs.map((ref) => movedCategory(this.policy, service, ref.collection, ref.key));
    const digestKey = digestKeyBytes(r.digestKey);
    // A user unknown here is refused rather than reported as all deleted: asked of the wrong
    // region, "deleted" would make the coordinator delete the user's data at the destination.
    await this.knownTenancy(userId, service);
    const names = await this.hierarchy.names(userId, false);
    const found: StoredRecord[] = [];
    const deleted: Array<{ collection: string; key: string }> = [];
    const seen = new Set<string>();
    for (const ref of refs) {
      const name = refName(ref.collection, ref.key);
      if (seen.has(name)) continue;
      seen.add(name);
      // No user key here: none of their records is here either.
      const stored =
        names && (await this.store.getRecord(userId, service, ref.collection, names.keyId(ref.collection, ref.key)));
      if (stored) found.push(stored);
      else deleted.push({ collection: ref.collection, key: ref.key });
    }
    return { records: await this.exported(found, digestKey), deleted };
  }

  /**
   * lastSeq is read before the page, and raised to the page's last entry: every entry up to it
   * that matches is in this page or, if the page is full, after its last entry. So a caller
   * resumes after the last entry when the page is full, and may resume after lastSeq when not.
   */
  async changesSince(r: RegionRequest<'changesSince'>): Promise<{ changes: ChangeView[]; lastSeq: number }> {
    const { afterSeq, limit, userId } = r;
    const service = r.service === undefined ? undefined : checkService(this.policy, r.service);
    if (userId !== undefined && service === undefined)
      throw new DomicileError('BAD_REQUEST', 'changesSince of one user (userId) needs its service too');
    const before = await this.store.lastSeq();
    const entries = await this.store.changesSince(afterSeq, limit, service, userId);
    const namesOf = this.namesOf();
    const changes: ChangeView[] = [];
    for (const c of entries) {
      // The log names records by keyId; readers (a device's sync, a migration's catch-up, which
      // must name the record to a region whose keyIds differ) get the client's key. An entry of a
      // user whose key is gone here (purged after a move) names data no longer here: left out.
      const names = await namesOf(c.userId);
      if (!names) continue;
      changes.push({
        seq: c.seq,
        userId: c.userId,
        service: c.service,
        collection: c.collection,
        key: names.open(c.service, c.collection, c.key, c.sealedKey),
        op: c.op,
        version: c.version,
      });
    }
    // A full page that lost entries looks short to its reader, who would then resume after
    // lastSeq: it must be the page's last entry then, not a head that entries beyond it precede.
    const last = entries.at(-1)?.seq ?? 0;
    return {
      changes,
      lastSeq: entries.length >= limit && changes.length < entries.length ? last : Math.max(before, last),
    };
  }

  /**
   * Sets the users' records to the given states under this region's keys, keeping the source's
   * versions and updatedAt, in one store transaction. A record already here at the same
   * version with the same plaintext is left alone, so a state applied twice changes nothing
   * the second time; any other (absent, another version, another value, or unreadable) is
   * overwritten: the source's state is the truth, even at a lower version (a record deleted
   * and written again starts over at 1). Deleted records are removed if present. Every user
   * is checked (tenancy, placement) before any key is made.
   */
  async importUsers(r: RegionRequest<'importUsers'>): Promise<{ applied: number }> {
    const service = checkService(this.policy, r.service);
    // An erased user's data never rests here again: a copy still carrying them leaves them out
    // (the store refuses them too, should an erasure land while this runs), and the rest is imported.
    const all = r.users.map((u) => ({ ...u, states: checkStates(this.policy, service, u.states) }));
    // The batch's erasures and tenancies in one read.
    const states = new Map(
      (
        await this.store.tenantsOf(
          service,
          all.map((u) => u.userId),
        )
      ).map((t) => [t.userId, t]),
    );
    const users = all.filter((user) => !states.get(user.userId)?.erased);
    for (const user of users) {
      const tenancy = states.get(user.userId)?.tenancy;
      // A new destination must be allowed by the policy. A source the user is moving away from
      // ('fenced' or 'moved') still takes the reverse stream until the move completes: during a
      // move the data rests in the source and the destination alone (invariant 1), and that is
      // what lets a rollback lose nothing even when the new policy no longer allows the source.
      if (tenancy === undefined || tenancy.status === 'incoming') this.checkPlacement(user.market, service);
      if (tenancy?.status === 'home') {
        throw new DomicileError(
          'CONFLICT',
          `cannot import into user ${user.userId}'s ${service} data here: this region is their home (tenancy home)`,
          {
            details: { status: 'home', service, userId: user.userId },
          },
        );
      }
    }
    // A consent ledger the copy carries whose newest decision is not a grant: that purpose's
    // categories get no data here, and no key (invariant 4 holds at the destination too).
    const shredding = new Map<string, Set<string>>();
    for (const user of users) {
      for (const rec of user.states.records) {
        if (rec.collection !== consentCollection) continue;
        const last = parseLedger(rec.value, rec.key).history.at(-1);
        if (last?.decision === 'grant') continue;
        const categories = shredding.get(user.userId) ?? new Set<string>();
        for (const c of gatedCategories(this.policy, service, rec.key)) categories.add(c);
        shredding.set(user.userId, categories);
      }
    }
    const toSeal: Array<{ user: (typeof users)[number]; rec: CheckedMovedRecord; json: Buffer; scope: string }> = [];
    await this.hierarchy.preload(
      users.flatMap((u) =>
        [...new Set(u.states.records.map((rec) => categoryScope(service, rec.category)))].map((scope) => ({
          userId: u.userId,
          scope,
        })),
      ),
    );
    const listed = await this.listedRecords(
      service,
      users.filter((u) => u.states.records.length >= listThreshold).map((u) => u.userId),
    );
    for (const user of users) {
      const names = await this.hierarchy.names(user.userId, false);
      const current = names
        ? await this.currentRecords(names, service, user.states.records, listed)
        : new Map<string, StoredRecord>();
      for (const [index, rec] of user.states.records.entries()) {
        if (shredding.get(user.userId)?.has(rec.collection)) continue;
        const json = this.encode(rec, user.userId, index, user.states.records.length);
        const existing = current.size === 0 ? undefined : current.get(names!.keyId(rec.collection, rec.key));
        if (existing && existing.version === rec.version && (await this.samePlain(existing, rec.category, json)))
          continue;
        toSeal.push({ user, rec, json, scope: categoryScope(service, rec.category) });
      }
    }
    const keys = await this.hierarchy.categoryKeys(toSeal.map((p) => ({ userId: p.user.userId, scope: p.scope })));
    const namesOf = this.namesOf();
    const imports = new Map<string, ImportedRecord[]>(users.map((u) => [u.userId, []]));
    for (const { user, rec, json, scope } of toSeal) {
      // categoryKeys made the user key of everyone with a record to seal.
      const names = (await namesOf(user.userId))!;
      const id = names.keyId(rec.collection, rec.key);
      // Sealed for the source's version, which the import keeps.
      const ciphertext = sealValue(keys.get(keyId(user.userId, scope))!, json, {
        regionId: this.regionId,
        userId: user.userId,
        service,
        collection: rec.collection,
        key: id,
        version: rec.version,
      });
      imports.get(user.userId)!.push({
        collection: rec.collection,
        key: id,
        version: rec.version,
        ciphertext,
        updatedAt: rec.updatedAt,
        sealedKey: names.seal(service, rec.collection, id, rec.key),
      });
    }
    const deletes = new Map<string, Array<{ collection: string; key: string }>>();
    for (const u of users) {
      // A user without a key here has no record here to delete.
      const names = u.states.deleted.length === 0 ? undefined : await namesOf(u.userId);
      deletes.set(
        u.userId,
        names ? u.states.deleted.map((d) => ({ collection: d.collection, key: names.keyId(d.collection, d.key) })) : [],
      );
    }
    const result = await this.store.importRecords(
      users.map((u) => ({
        userId: u.userId,
        service,
        market: u.market,
        epoch: u.epoch,
        puts: imports.get(u.userId)!,
        deletes: deletes.get(u.userId)!,
        shred: [...(shredding.get(u.userId) ?? [])],
      })),
    );
    for (const [userId, categories] of shredding)
      for (const c of categories) this.hierarchy.forget(userId, categoryScope(service, c));
    return { applied: result.applied };
  }

  /** Computed on the decrypted plaintext; INTEGRITY, naming the record, for one that does not open. */
  async digestUsers(r: RegionRequest<'digestUsers'>): Promise<UserDigest[]> {
    const service = checkService(this.policy, r.service);
    const { userIds } = r;
    const digestKey = digestKeyBytes(r.digestKey);
    const digests: UserDigest[] = [];
    for (const { userId, records: stored } of await this.store.exportTenants(service, userIds)) {
      const plains = await this.plains(stored);
      const names = stored.length === 0 ? undefined : await this.hierarchy.names(userId, false);
      digests.push(
        userDigest(
          userId,
          stored.map((r, i) => ({
            collection: r.collection,
            key: this.clientKey(names, r),
            version: r.version,
            hash: plainHash(plains[i]!, digestKey),
          })),
        ),
      );
    }
    return digests;
  }

  /**
   * Any status at any epoch not below the stored one, for every user in one transaction.
   * 'incoming' (data is about to rest here) is checked against the policy like an import; the
   * others are not: a roll-back makes the source home again even where a newer policy would
   * no longer place the user.
   */
  async setTenancies(r: RegionRequest<'setTenancies'>): Promise<void> {
    const service = checkService(this.policy, r.service);
    const tenancies = checkTenancyChanges(this.policy, this.regionId, r.tenancies);
    for (const t of tenancies) if (t.status === 'incoming') this.checkPlacement(t.market, service);
    // An erased user gets no tenancy back: left out, so that a batch's fence, flip or roll-back carries on without them.
    const erased = new Set(
      (
        await this.store.tenantsOf(
          service,
          tenancies.map((t) => t.userId),
        )
      )
        .filter((t) => t.erased)
        .map((t) => t.userId),
    );
    const live = tenancies.filter((t) => !erased.has(t.userId));
    await this.store.advanceTenancies(live.map((t) => ({ ...t, service })));
  }

  /** Shreds the users' keys of the service (and a user key when nothing else needs it), then forgets them. */
  async purgeUsers(r: RegionRequest<'purgeUsers'>): Promise<{ records: number; keys: number }> {
    const service = checkService(this.policy, r.service);
    const { userIds } = r;
    const reason = r.reason ?? 'migration-complete';
    const result = await this.audit.append(
      [{ id: null, event: { type: 'key-shred', users: userIds, scopes: [`${service}/*`], reason } }],
      (audit) => this.store.purgeTenants(service, userIds, audit),
    );
    for (const userId of userIds) {
      // A cached key would otherwise seal new records under a key the store no longer holds.
      this.hierarchy.forget(userId, `${service}/`);
      if (!(await this.store.getKey(userId, ''))) this.hierarchy.forget(userId);
    }
    return { records: result.records, keys: result.keys };
  }

  /**
   * The placement invariant, where the data would rest: a region the policy does not allow for
   * the market and service (a planned one has no node at all) never receives their data.
   */
  private checkPlacement(market: string, service: string): void {
    if (!isAllowed(this.policy, market, service, this.regionId)) {
      throw new DomicileError(
        'FORBIDDEN',
        `policy "${this.policy.name}" does not let service ${service} data of market ${market} rest in region ${this.regionId}`,
        {
          details: { market, service, region: this.regionId },
        },
      );
    }
  }

  private async knownTenancy(userId: string, service: string): Promise<Tenancy> {
    const tenancy = await this.store.getTenancy(userId, service);
    if (!tenancy) throw this.wrongRegion(userId, service);
    return tenancy;
  }

  private wrongRegion(userId: string, service: string): DomicileError {
    return new DomicileError(
      'WRONG_REGION',
      `region ${this.regionId} holds no tenancy of user ${userId} for service ${service}`,
      {
        details: { home: null, service },
      },
    );
  }

  /**
   * A record's value as JSON. A failure names the record by its collection and its position among
   * the user's records sent, never by the client's key: it becomes the batch's (and the
   * migration's) stored error in the coordinator's state, which holds no personal data.
   */
  private encode(rec: CheckedMovedRecord, userId: string, index: number, sent: number): Buffer {
    try {
      return encodeValue(rec.value, this.maxValueBytes);
    } catch (err) {
      if (!isDomicileError(err)) throw err;
      const position = index + 1;
      throw new DomicileError(
        err.code,
        `record ${position} of the ${sent} sent for user ${userId}, in ${rec.collection}: ${err.message}`,
        {
          cause: err,
          details: { ...err.details, userId, collection: rec.collection, position },
        },
      );
    }
  }

  /** Every record here of these users, by user: one statement for the batch's copies. */
  private async listedRecords(service: string, userIds: readonly string[]): Promise<Map<string, StoredRecord[]>> {
    if (userIds.length === 0) return new Map();
    return new Map((await this.store.exportTenants(service, userIds)).map((t) => [t.userId, t.records]));
  }

  /** The records already here that the puts name, by keyId. */
  private async currentRecords(
    names: RecordNames,
    service: string,
    puts: readonly CheckedMovedRecord[],
    listed: Map<string, StoredRecord[]>,
  ): Promise<Map<string, StoredRecord>> {
    const found = new Map<string, StoredRecord>();
    const add = (s: StoredRecord) => found.set(s.key, s);
    // A copy sends many records of a user (the batch's users were listed at once); a catch-up, a few.
    if (puts.length >= listThreshold) {
      for (const stored of listed.get(names.userId) ?? []) add(stored);
    } else {
      for (const p of puts) {
        const stored = await this.store.getRecord(
          names.userId,
          service,
          p.collection,
          names.keyId(p.collection, p.key),
        );
        if (stored) add(stored);
      }
    }
    return found;
  }

  /** A lookup of users' record names that asks the key hierarchy once per user. */
  private namesOf(): NamesOf {
    const seen = new Map<string, RecordNames | undefined>();
    return async (userId) => {
      if (!seen.has(userId)) seen.set(userId, await this.hierarchy.names(userId, false));
      return seen.get(userId);
    };
  }

  /** The client's key of a stored record; INTEGRITY, naming the record, when it cannot be opened here. */
  private clientKey(names: RecordNames | undefined, r: StoredRecord): string {
    if (!names) {
      throw new DomicileError(
        'INTEGRITY',
        `record ${r.service}/${r.collection}/${r.key} of user ${r.userId} in region ${this.regionId} has no user key to name it with (was it shredded?)`,
        {
          details: { userId: r.userId, service: r.service, collection: r.collection },
        },
      );
    }
    return names.open(r.service, r.collection, r.key, r.sealedKey);
  }

  /** Whether a stored record holds this plaintext; one that does not open is not the same (the import repairs it). */
  private async samePlain(stored: StoredRecord, category: string, json: Buffer): Promise<boolean> {
    try {
      return (await this.plains([stored], category))[0]!.equals(json);
    } catch (err) {
      if (isDomicileError(err, 'INTEGRITY')) return false;
      throw err;
    }
  }

  private async exported(stored: readonly StoredRecord[], digestKey: Buffer): Promise<ExportedRecord[]> {
    const plains = await this.plains(stored);
    const namesOf = this.namesOf();
    const out: ExportedRecord[] = [];
    for (const [i, r] of stored.entries()) {
      const plain = plains[i]!;
      const value = parsePlain(plain, this.address(r));
      out.push({
        collection: r.collection,
        key: this.clientKey(await namesOf(r.userId), r),
        version: r.version,
        updatedAt: r.updatedAt,
        value,
        hash: plainHash(plain, digestKey),
        bytes: plain.length,
      });
    }
    return out;
  }

  /**
   * The records' plaintext JSON, in order; INTEGRITY, naming the record and the region, for
   * one that does not open. Each (user, scope) key is looked up once, not once per record.
   */
  private async plains(stored: readonly StoredRecord[], category?: string): Promise<Buffer[]> {
    await this.hierarchy.preload(
      stored.map((r) => ({
        userId: r.userId,
        scope: categoryScope(r.service, category ?? storedCategory(r.collection)),
      })),
    );
    const keys = new Map<string, Buffer | undefined>();
    for (const r of stored) {
      const id = keyId(r.userId, categoryScope(r.service, category ?? storedCategory(r.collection)));
      if (!keys.has(id))
        keys.set(
          id,
          await this.hierarchy.categoryKey(
            r.userId,
            categoryScope(r.service, category ?? storedCategory(r.collection)),
            false,
          ),
        );
    }
    return stored.map((r) => {
      const scope = categoryScope(r.service, category ?? storedCategory(r.collection));
      const dataKey = keys.get(keyId(r.userId, scope));
      const where = () => `record ${r.service}/${r.collection}/${r.key} of user ${r.userId} in region ${this.regionId}`;
      const details = () => ({ userId: r.userId, service: r.service, collection: r.collection, key: r.key });
      if (!dataKey)
        throw new DomicileError('INTEGRITY', `${where()} has no ${scope} key (was it shredded?)`, {
          details: details(),
        });
      try {
        return openPlain(dataKey, r.ciphertext, this.address(r));
      } catch (err) {
        if (!isDomicileError(err, 'INTEGRITY')) throw err;
        throw new DomicileError('INTEGRITY', `${where()} does not open: ${err.message}`, {
          cause: err,
          details: details(),
        });
      }
    });
  }

  private address(r: StoredRecord): RecordAddress {
    return {
      regionId: this.regionId,
      userId: r.userId,
      service: r.service,
      collection: r.collection,
      key: r.key,
      version: r.version,
    };
  }
}
