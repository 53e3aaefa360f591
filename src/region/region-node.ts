import { LRUCache } from 'lru-cache';
import { decodeEntry } from '../audit/audit-event.js';
import { AuditLog, readAuditPage } from '../audit/audit-log.js';
import type { AuditSigner } from '../audit/audit-signer.js';
import { type ConsentLedger, type ConsentStat, consentCollection } from '../consent/consent-ledger.js';
import { normaliseEmail, normalisePhone } from '../crypto/blind-index.js';
import type { KeySource } from '../crypto/key-source.js';
import {
  checkPassword,
  defaultScryptParams,
  hashPassword,
  type ScryptParams,
  verifyPassword,
} from '../crypto/password.js';
import { DomicileError, isDomicileError } from '../errors/domicile-error.js';
import { isAllowed } from '../policy/placement.js';
import { policyDigest } from '../policy/policy-digest.js';
import type { Policy } from '../policy/policy-schema.js';
import { maxJsonDepth } from '../shared/json-depth.js';
import { KeyedLock } from '../shared/keyed-lock.js';
import type { PlacementStat, RecordWrite, RegionStore, StoredRecord, WriteResult } from '../store/region-store.js';
import { checkTenancy } from '../store/tenancy-guard.js';
import {
  checkCredentialsService,
  credentialsCategory,
  credentialsCollection,
  credentialsKey,
  credentialsService,
  parseCredentials,
  type StoredCredentials,
} from './credentials.js';
import { categoryScope, KeyHierarchy } from './key-hierarchy.js';
import { MigrationFences } from './migration-fences.js';
import { checkCallerEvents, checkCollection, checkService } from './policy-checks.js';
import { checkValueDepth, readableView } from './readable-view.js';
import { defaultMaxValueBytes, encodeValue, sealValue } from './record-crypto.js';
import { decodeRecordCursor, encodeRecordCursor } from './record-cursor.js';
import { upgradeRecordKeys } from './record-key-upgrade.js';
import { absentKeyId, byName, namedError, partMark, type RecordNames } from './record-names.js';
import {
  type CollectionHolding,
  parseRegionInput,
  parseTenantRef,
  type RecordView,
  type RegionApi,
  type RegionClient,
  type RegionExport,
  type RegionInput,
  type RegionMethod,
  type RegionOutput,
  type TenantRef,
  type UserHolding,
} from './region-client.js';
import { RegionConsent } from './region-consent.js';
import { RegionDsar } from './region-dsar.js';
import { RegionMigration } from './region-migration.js';

/**
 * How long a blind write goes on correcting its predicted version while other writers (another
 * node of the pool, a client's write with If-Match) keep landing first: bounded by time, not by a
 * count, so a busy key never turns a write that named no version into a CONFLICT.
 */
const blindWriteRetryMs = 10_000;

export interface RegionNodeOptions {
  regionId: string;
  policy: Policy;
  /** The region's own store; the node alone writes to it. */
  store: RegionStore;
  /** The region's own key-encryption key; it never leaves the node. */
  keys: KeySource;
  /** The region's own key that signs its audit log's checkpoints. */
  signer: AuditSigner;
  /** Record the policy in the audit log at start when it changed (default true; false for read-only tools). */
  recordPolicy?: boolean;
  /** Unwrapped data keys kept in memory (default 50,000). */
  keyCacheSize?: number;
  /** Largest record value, in bytes of JSON (default 1 MiB). */
  maxValueBytes?: number;
  /** scrypt cost of new password hashes (default: defaultScryptParams); tests lower it. */
  scrypt?: ScryptParams;
  /** Most levels a record value nests (default maxJsonDepth, 64); tests raise it to plant what older versions stored. */
  maxValueDepth?: number;
  /** Progress of start-up work, such as an old store's upgrade to keyIds (default: none). */
  log?: ((line: string) => void) | undefined;
}

/**
 * A region's data plane: it alone holds the region's store and keys, seals every record
 * under a per-user, per-category key before it reaches the store, and answers for users it
 * homes only (anyone else gets WRONG_REGION with where they live). Reached from outside
 * through a RegionClient (in-process or HTTP), never directly.
 */
export class RegionNode implements RegionClient, RegionApi {
  readonly regionId: string;
  private readonly policy: Policy;
  private readonly store: RegionStore;
  private readonly hierarchy: KeyHierarchy;
  private readonly maxValueBytes: number;
  private readonly maxValueDepth: number;
  private readonly scrypt: ScryptParams;
  private readonly migration: RegionMigration;
  private readonly fences: MigrationFences;
  private readonly audit: AuditLog;
  private readonly consent: RegionConsent;
  private readonly dsar: RegionDsar;
  private readonly recordPolicy: boolean;
  private readonly log: ((line: string) => void) | undefined;
  /** Verified against when a user has no credentials, so a miss costs as long as a hit. */
  private dummyHash: Promise<string> | undefined;
  /**
   * Versions of records this node last wrote or saw, by (user, service, collection, keyId): a
   * blind write seals for the version it predicts from here (a hint only: the store checks it,
   * and a wrong one costs a retry), without reading the record first.
   */
  private readonly versions = new LRUCache<string, number>({ max: 100_000 });
  /** Blind writes of one key, one at a time in this node (see write). */
  private readonly blindWrites = new KeyedLock();

  constructor(options: RegionNodeOptions) {
    this.regionId = options.regionId;
    this.policy = options.policy;
    this.store = options.store;
    this.hierarchy = new KeyHierarchy({
      regionId: options.regionId,
      store: options.store,
      keys: options.keys,
      cacheSize: options.keyCacheSize,
    });
    this.maxValueBytes = options.maxValueBytes ?? defaultMaxValueBytes;
    this.maxValueDepth = options.maxValueDepth ?? maxJsonDepth;
    this.scrypt = options.scrypt ?? defaultScryptParams;
    this.audit = new AuditLog(this.regionId, this.store, options.signer);
    this.recordPolicy = options.recordPolicy ?? true;
    this.log = options.log;
    this.migration = new RegionMigration({
      regionId: this.regionId,
      policy: this.policy,
      store: this.store,
      hierarchy: this.hierarchy,
      maxValueBytes: this.maxValueBytes,
      audit: this.audit,
    });
    this.fences = new MigrationFences(this.regionId, this.store);
    this.consent = new RegionConsent(this.regionId, this.policy, this.store, this.hierarchy, this.audit);
    this.dsar = new RegionDsar(this.regionId, this.policy, this.store, this.hierarchy, this.audit);
  }

  /**
   * Listens for other nodes' key shreds where the store is shared, loads the audit log's right edge, and records the policy the region now runs under when
   * it is not the one its log last recorded (every policy change is in every region's log).
   */
  async init(): Promise<void> {
    // Other nodes of the pool shred keys too: heard before anything is served from the cache.
    await this.store.watchKeys?.((event) => {
      if (event.type === 'shredded') this.hierarchy.forget(event.userId, event.scope);
      else if (event.type === 'deaf') this.hierarchy.distrust();
      else this.hierarchy.trust();
    });
    await this.audit.init();
    // A store written before keyIds holds clients' keys in plaintext: upgraded before anything is
    // served, once; the log then records that every key is sealed, and no later row is upgraded.
    const sealed = await this.store.lastAuditOfType('record-keys-sealed');
    const upgraded = await upgradeRecordKeys({
      regionId: this.regionId,
      store: this.store,
      hierarchy: this.hierarchy,
      log: this.log,
      sealedAt: sealed?.seq,
    });
    if (!sealed && this.audit.problems.length === 0 && this.recordPolicy) {
      await this.audit.record([{ id: null, event: { type: 'record-keys-sealed', ...upgraded } }]);
    }
    // A log that does not verify is reported by `domicile audit verify`; nothing is appended to it.
    if (this.audit.problems.length > 0 || !this.recordPolicy) return;
    const digest = policyDigest(this.policy);
    const last = await this.store.lastAuditOfType('policy');
    const previous = last && decodeEntry(last.entry)?.event;
    if (previous?.type !== 'policy' || previous.hash !== digest) {
      await this.audit.record([
        { id: null, event: { type: 'policy', name: this.policy.name, version: this.policy.version, hash: digest } },
      ]);
    }
  }
  async health(): Promise<RegionOutput<'health'>> {
    return { regionId: this.regionId, backend: this.store.backend, lastSeq: await this.store.lastSeq() };
  }

  async openTenancy(req: RegionInput<'openTenancy'>): Promise<void> {
    const ref = this.tenantRef(req, 'openTenancy');
    const { market } = parseRegionInput('openTenancy', req);
    // The placement invariant, enforced where the data would rest.
    if (!isAllowed(this.policy, market, ref.service, this.regionId)) {
      throw new DomicileError(
        'FORBIDDEN',
        `policy "${this.policy.name}" does not let service ${ref.service} data of market ${market} rest in region ${this.regionId}`,
        {
          details: { market, service: ref.service, region: this.regionId },
        },
      );
    }
    const existing = await this.store.getTenancy(ref.userId, ref.service);
    // Refreshing is idempotent; going back in epochs, or undoing a fence or a move, is not.
    if (existing && (existing.epoch > ref.epoch || (existing.epoch === ref.epoch && existing.status !== 'home'))) {
      checkTenancy(existing, ref.userId, ref.service, ref.epoch);
    }
    await this.store.putTenancy({
      userId: ref.userId,
      service: ref.service,
      market,
      epoch: ref.epoch,
      status: 'home',
      movedTo: null,
    });
  }

  async putRecord(req: RegionInput<'putRecord'>): Promise<RegionOutput<'putRecord'>> {
    const ref = this.tenantRef(req, 'putRecord');
    const { collection, key, ifVersion, json } = await this.checkedFor(ref, () => {
      const r = parseRegionInput('putRecord', req);
      const json = encodeValue(r.value, this.maxValueBytes);
      checkValueDepth(json, this.maxValueDepth);
      return {
        collection: checkCollection(this.policy, ref.service, r.collection),
        key: r.key,
        ifVersion: r.ifVersion,
        json,
      };
    });
    const purpose = this.consent.purposeOf(ref.service, collection);
    if (purpose === undefined) {
      const result = await this.write(ref, collection, collection, key, json, ifVersion);
      return { version: result.version, updatedAt: result.updatedAt };
    }
    // A missing grant is no answer for a user who lives elsewhere now.
    await this.serving(ref);
    // Consent is enforced here, where the data would rest, not in a handler: the write lands
    // only if the ledger record that granted it is unchanged in the write's own transaction.
    for (let attempt = 1; ; attempt++) {
      const version = await this.consent.requireGrant(ref, purpose);
      try {
        const result = await this.write(ref, collection, collection, key, json, ifVersion, {
          collection: consentCollection,
          key: purpose,
          version,
        });
        return { version: result.version, updatedAt: result.updatedAt };
      } catch (err) {
        if (attempt >= 2 || !RegionConsent.ledgerChanged(err)) throw err;
      }
    }
  }

  async getRecord(req: RegionInput<'getRecord'>): Promise<RecordView | null> {
    const ref = this.tenantRef(req, 'getRecord');
    const { collection, key } = await this.checkedFor(ref, () => {
      const r = parseRegionInput('getRecord', req);
      return { collection: checkCollection(this.policy, ref.service, r.collection), key: r.key };
    });
    // No user key here: no record of theirs either; the read still checks the tenancy.
    const names = await this.hierarchy.names(ref.userId, false);
    const stored = await this.store.readRecord({
      ...ref,
      collection,
      key: names ? names.keyId(collection, key) : absentKeyId,
    });
    return stored ? this.view(stored, collection, key) : null;
  }

  async listRecords(req: RegionInput<'listRecords'>): Promise<RecordView[]> {
    const { ref, r } = await this.served(req, 'listRecords');
    const collection = r.collection === undefined ? undefined : checkCollection(this.policy, ref.service, r.collection);
    const stored = await this.store.listRecords(ref.userId, ref.service, collection);
    const names = stored.length === 0 ? undefined : await this.hierarchy.names(ref.userId, false);
    const views: RecordView[] = [];
    for (const record of stored) {
      // Reserved collections (credentials) are not records of the API.
      if (record.collection.startsWith('_')) continue;
      views.push(await this.view(record, record.collection, this.clientKey(names, record)));
    }
    // In the client's keys' order (the store orders by keyId).
    return views.sort(byName);
  }

  async listRecordPage(req: RegionInput<'listRecordPage'>): Promise<RegionOutput<'listRecordPage'>> {
    const { ref, r } = await this.served(req, 'listRecordPage');
    const collection = checkCollection(this.policy, ref.service, r.collection);
    const { limit } = r;
    const scope = { regionId: this.regionId, epoch: ref.epoch };
    const after = decodeRecordCursor(r.cursor, collection, scope);
    const withoutParts = r.withoutParts === true;
    // A page in the store's order of keyIds (a part's keyId is marked, so the store leaves parts out).
    const stored = await this.store.listRecords(ref.userId, ref.service, collection, { after, limit, withoutParts });
    const names = stored.length === 0 ? undefined : await this.hierarchy.names(ref.userId, false);
    const records: RecordView[] = [];
    for (const record of stored) {
      const view = await this.view(record, collection, this.clientKey(names, record));
      // Again on the client's key, whatever the store's key column holds.
      if (!(withoutParts && view.key.includes(partMark))) records.push(view);
    }
    const last = stored.at(-1);
    // Pages follow the store's order of keyIds (unrelated to the keys); each page is given in the keys' order.
    records.sort(byName);
    return {
      records,
      cursor: stored.length === limit && last ? encodeRecordCursor(scope, collection, last.key) : null,
    };
  }

  async deleteRecord(req: RegionInput<'deleteRecord'>): Promise<RegionOutput<'deleteRecord'>> {
    const ref = this.tenantRef(req, 'deleteRecord');
    const { collection, key, ifVersion } = await this.checkedFor(ref, () => {
      const r = parseRegionInput('deleteRecord', req);
      return {
        collection: checkCollection(this.policy, ref.service, r.collection),
        key: r.key,
        ifVersion: r.ifVersion,
      };
    });
    const names = await this.hierarchy.names(ref.userId, false);
    const keyId = names ? names.keyId(collection, key) : absentKeyId;
    let result: WriteResult | undefined;
    try {
      result = await this.store.deleteRecord({ ...ref, collection, key: keyId, ifVersion });
    } catch (err) {
      throw namedError(err, keyId, key);
    }
    if (names) this.versions.set(this.versionName(ref, collection, keyId), 0);
    return { deleted: result !== undefined };
  }

  async setCredentials(req: RegionInput<'setCredentials'>): Promise<void> {
    const { ref, r } = await this.served(req, 'setCredentials');
    checkCredentialsService(ref.service);
    const { phone, email } = r;
    const password = checkPassword(r.password);
    const update: Partial<StoredCredentials> = {};
    if (phone !== undefined) update.phone = normalisePhone(phone);
    if (email !== undefined) update.email = normaliseEmail(email);
    // Absent identifiers are kept: changing the password must not drop the phone number.
    const current = await this.readCredentials(ref);
    const next: StoredCredentials = {
      ...current?.credentials,
      ...update,
      passwordHash: await hashPassword(password, this.scrypt),
    };
    if (next.phone === undefined && next.email === undefined) {
      throw new DomicileError('BAD_REQUEST', 'credentials need a phone number or an e-mail address to log in with', {
        details: { field: 'phone' },
      });
    }
    // ifVersion: a concurrent change in between is reported (CONFLICT), not silently merged away.
    await this.write(
      ref,
      credentialsCategory,
      credentialsCollection,
      credentialsKey,
      Buffer.from(JSON.stringify(next), 'utf8'),
      current?.version ?? 0,
    );
  }

  async verifyPassword(req: RegionInput<'verifyPassword'>): Promise<boolean> {
    const { ref, r } = await this.served(req, 'verifyPassword');
    checkCredentialsService(ref.service);
    const password = checkPassword(r.password);
    const current = await this.readCredentials(ref);
    if (!current) {
      this.dummyHash ??= hashPassword('domicile-no-such-credentials', this.scrypt);
      await verifyPassword(password, await this.dummyHash);
      return false;
    }
    return verifyPassword(password, current.credentials.passwordHash);
  }

  async placementStats(): Promise<PlacementStat[]> {
    return this.store.placementStats();
  }

  async describeUser(req: RegionInput<'describeUser'>): Promise<UserHolding[]> {
    const { userId } = parseRegionInput('describeUser', req);
    const holdings: UserHolding[] = [];
    for (const service of this.policy.services) {
      const tenancy = await this.store.getTenancy(userId, service.id);
      const collections = new Map<string, CollectionHolding>();
      for (const record of await this.store.listRecords(userId, service.id)) {
        const holding = collections.get(record.collection) ?? { collection: record.collection, records: 0, bytes: 0 };
        holding.records += 1;
        holding.bytes += record.ciphertext.length;
        collections.set(record.collection, holding);
      }
      const scopes = new Set(service.categories.map((c) => categoryScope(service.id, c.id)));
      if (service.id === credentialsService) scopes.add(categoryScope(credentialsService, credentialsCategory));
      let keys = 0;
      for (const scope of scopes) if (await this.store.getKey(userId, scope)) keys++;
      const changes = await this.store.countChanges(userId, service.id);
      // Rows that name a user this region does not serve (a move's leftovers) are shown, not hidden.
      if (!tenancy && collections.size === 0 && keys === 0 && changes === 0) continue;
      holdings.push({
        service: service.id,
        market: tenancy?.market ?? '',
        status: tenancy?.status ?? 'none',
        epoch: tenancy?.epoch ?? 0,
        movedTo: tenancy?.movedTo ?? null,
        keys,
        collections: [...collections.values()],
        changes,
        residue: tenancy === undefined || tenancy.status === 'moved',
      });
    }
    return holdings;
  }

  // Migration primitives: region-migration.ts holds them, with the same store and key hierarchy;
  // each runs under its coordinator's fencing token, when it carries one (migration-fences.ts).

  async exportUsers(req: RegionInput<'exportUsers'>): Promise<RegionOutput<'exportUsers'>> {
    const r = parseRegionInput('exportUsers', req);
    return this.fences.run(r.fence, 'reads', () => this.migration.exportUsers(r));
  }

  async readRecordStates(req: RegionInput<'readRecordStates'>): Promise<RegionOutput<'readRecordStates'>> {
    const r = parseRegionInput('readRecordStates', req);
    return this.fences.run(r.fence, 'reads', () => this.migration.readRecordStates(r));
  }

  async changesSince(req: RegionInput<'changesSince'>): Promise<RegionOutput<'changesSince'>> {
    // With an epoch it is a user's request routed to their home (a device's sync), checked as one;
    // without, the coordinator tailing the log (of users moving away, too).
    const r = parseRegionInput('changesSince', req);
    if (r.epoch !== undefined) await this.serving(this.tenantRef(req, 'changesSince'));
    return this.fences.run(r.fence, 'reads', () => this.migration.changesSince(r));
  }

  async importUsers(req: RegionInput<'importUsers'>): Promise<RegionOutput<'importUsers'>> {
    const r = parseRegionInput('importUsers', req);
    return this.fences.run(r.fence, 'changes', () => this.migration.importUsers(r));
  }

  async digestUsers(req: RegionInput<'digestUsers'>): Promise<RegionOutput<'digestUsers'>> {
    const r = parseRegionInput('digestUsers', req);
    return this.fences.run(r.fence, 'reads', () => this.migration.digestUsers(r));
  }

  async setTenancies(req: RegionInput<'setTenancies'>): Promise<void> {
    const r = parseRegionInput('setTenancies', req);
    return this.fences.run(r.fence, 'changes', () => this.migration.setTenancies(r));
  }

  async purgeUsers(req: RegionInput<'purgeUsers'>): Promise<RegionOutput<'purgeUsers'>> {
    const r = parseRegionInput('purgeUsers', req);
    return this.fences.run(r.fence, 'changes', () => this.migration.purgeUsers(r));
  }

  async raiseFence(req: RegionInput<'raiseFence'>): Promise<RegionOutput<'raiseFence'>> {
    return this.fences.raise(parseRegionInput('raiseFence', req).fence);
  }

  async recordConsent(req: RegionInput<'recordConsent'>): Promise<ConsentLedger> {
    const { r } = await this.served(req, 'recordConsent');
    return this.consent.decide(r);
  }

  async readConsents(req: RegionInput<'readConsents'>): Promise<ConsentLedger[]> {
    return this.consent.readAll((await this.served(req, 'readConsents')).ref);
  }

  consentStats(): Promise<ConsentStat[]> {
    return this.consent.stats();
  }

  async exportUser(req: RegionInput<'exportUser'>): Promise<RegionExport> {
    return this.dsar.exportUser(parseRegionInput('exportUser', req));
  }

  async eraseUser(req: RegionInput<'eraseUser'>): Promise<RegionOutput<'eraseUser'>> {
    return this.dsar.eraseUser(parseRegionInput('eraseUser', req));
  }

  async recordEvents(req: RegionInput<'recordEvents'>): Promise<RegionOutput<'recordEvents'>> {
    const r = parseRegionInput('recordEvents', req);
    const events = checkCallerEvents(r.events);
    return this.fences.run(r.fence, 'changes', async () => ({ seqs: await this.audit.record(events) }));
  }

  async readAudit(req: RegionInput<'readAudit'>): Promise<RegionOutput<'readAudit'>> {
    const r = parseRegionInput('readAudit', req);
    return readAuditPage(this.regionId, this.audit.publicKey, this.store, r.afterSeq, r.limit);
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  /**
   * The first check of every request about a user: the reference is well formed and this region
   * serves the user now (WRONG_REGION, STALE_EPOCH, FENCED otherwise), before anything else is
   * checked. A gateway routing with a stale home must hear where the user went, which it
   * re-routes on, never an answer about data this region no longer holds (a missing grant, a
   * missing record, a policy it runs another version of).
   */
  private async served<M extends RegionMethod>(
    req: RegionInput<M>,
    method: M,
  ): Promise<{ ref: TenantRef; r: ReturnType<typeof parseRegionInput<M>> }> {
    const ref = this.tenantRef(req, method);
    await this.serving(ref);
    return { ref, r: parseRegionInput(method, req) };
  }

  /** Whom a request is about: well formed, and a service of the policy. */
  private tenantRef(req: unknown, method: RegionMethod): TenantRef {
    const ref = parseTenantRef(req, method);
    checkService(this.policy, ref.service);
    return ref;
  }

  /**
   * A request's own checks, for the request paths whose store call checks the tenancy in its own
   * transaction (get, put, delete): one that fails them is answered as `served` would (WRONG_REGION
   * and the like first), while one that passes costs no tenancy read of its own.
   */
  private async checkedFor<T>(ref: TenantRef, checks: () => T): Promise<T> {
    try {
      return checks();
    } catch (err) {
      await this.serving(ref);
      throw err;
    }
  }

  /** Refuses (WRONG_REGION, STALE_EPOCH, FENCED) unless this region serves the user now. */
  private async serving(ref: TenantRef): Promise<void> {
    checkTenancy(await this.store.getTenancy(ref.userId, ref.service), ref.userId, ref.service, ref.epoch);
  }

  /**
   * Seals and writes a value under its keyId, with the client's key sealed beside it; the store
   * re-checks the tenancy (and what the write requires) in the write's own transaction. The
   * value is sealed for the version it will have (bound into its associated data), so the
   * write always names the version it expects: the client's ifVersion as given (its CONFLICT is
   * the client's), or for a blind write the version predicted from what this node last saw or
   * read (none seen: a new key, version 0), corrected from the store's CONFLICT for as long as
   * blindWriteRetryMs: a write that named no version is never answered CONFLICT. Guessing a
   * new key rather than asking the store first saves a round trip on every first write, and a
   * wrong guess costs the same round trip the question would have.
   */
  private async write(
    ref: TenantRef,
    category: string,
    collection: string,
    key: string,
    json: Buffer,
    ifVersion: number | undefined,
    requires?: RecordWrite['requires'],
  ): Promise<WriteResult> {
    const scope = categoryScope(ref.service, category);
    let dataKey = this.hierarchy.cached(ref.userId, scope);
    if (!dataKey) {
      // Checked before the key is made, so no key is ever made for a user this region does not
      // serve. With the key already cached nothing is made, and writeRecord's check suffices.
      await this.serving(ref);
      dataKey = await this.hierarchy.categoryKey(ref.userId, scope, true);
    }
    const names = await this.hierarchy.names(ref.userId, true);
    const keyId = names.keyId(collection, key);
    const sealedKey = names.seal(ref.service, collection, keyId, key);
    const versionName = this.versionName(ref, collection, keyId);
    // What the write requires (the consent ledger's record) is named by its keyId too.
    const required = requires && { ...requires, key: names.keyId(requires.collection, requires.key) };
    const attempts = async (): Promise<WriteResult> => {
      let expected = ifVersion ?? this.versions.get(versionName) ?? 0;
      const deadline = Date.now() + blindWriteRetryMs;
      for (;;) {
        const ciphertext = sealValue(dataKey, json, {
          regionId: this.regionId,
          userId: ref.userId,
          service: ref.service,
          collection,
          key: keyId,
          version: expected + 1,
        });
        try {
          const result = await this.store.writeRecord({
            ...ref,
            collection,
            key: keyId,
            sealedKey,
            ciphertext,
            ifVersion: expected,
            requires: required,
          });
          this.versions.set(versionName, result.version);
          return result;
        } catch (err) {
          const found =
            isDomicileError(err, 'CONFLICT') && err.details?.requires === undefined ? err.details?.version : undefined;
          if (ifVersion !== undefined || typeof found !== 'number') {
            this.versions.delete(versionName);
            throw namedError(err, keyId, key);
          }
          if (Date.now() > deadline) {
            this.versions.delete(versionName);
            throw new DomicileError(
              'UNAVAILABLE',
              `record ${ref.service}/${collection}/${key} is being written by others faster than this write could land: retry shortly`,
              {
                cause: err,
                details: { retryAfterSeconds: 1 },
              },
            );
          }
          // Another write got there first (or the hint was stale): seal again for the version after the one found.
          expected = found;
        }
      }
    };
    // A client's ifVersion is used as given. Blind writes of one key go one at a time in this
    // node: each predicts the version the one before it wrote, so they do not refuse each other;
    // the retry above covers writers elsewhere (another node of the pool, writes with If-Match).
    return ifVersion === undefined ? this.blindWrites.run(versionName, attempts) : attempts();
  }

  private versionName(ref: { userId: string; service: string }, collection: string, keyId: string): string {
    return `${ref.userId}\u0000${ref.service}\u0000${collection}\u0000${keyId}`;
  }

  /** The client's key of a stored record; INTEGRITY when the user has no key here to open it with. */
  private clientKey(names: RecordNames | undefined, record: StoredRecord): string {
    if (!names)
      throw new DomicileError(
        'INTEGRITY',
        `user ${record.userId} has records of ${record.service} in region ${this.regionId} but no user key to name them with (was it shredded?)`,
      );
    return names.open(record.service, record.collection, record.key, record.sealedKey);
  }

  private async view(record: StoredRecord, category: string, key: string): Promise<RecordView> {
    return readableView(record, key, await this.open(record, category));
  }

  private open(record: StoredRecord, category: string): Promise<unknown> {
    return this.hierarchy.openRecord(record, category);
  }

  private async readCredentials(
    ref: TenantRef,
  ): Promise<{ credentials: StoredCredentials; version: number } | undefined> {
    const names = await this.hierarchy.names(ref.userId, false);
    const stored =
      names &&
      (await this.store.getRecord(
        ref.userId,
        ref.service,
        credentialsCollection,
        names.keyId(credentialsCollection, credentialsKey),
      ));
    if (!stored) return undefined;
    return { credentials: parseCredentials(await this.open(stored, credentialsCategory)), version: stored.version };
  }
}
