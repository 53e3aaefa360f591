import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { aeadKeyBytes, open, seal } from '../crypto/aead.js';
import type { KeySource } from '../crypto/key-source.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { RegionStore, StoredRecord, WrappedKey } from '../store/region-store.js';
import { openValue } from './record-crypto.js';
import { RecordNames } from './record-names.js';

/**
 * A region's key hierarchy:
 *
 *   region KEK (key source) ──wraps──> user key (scope '') ──wraps──> category key (scope 'service/category')
 *
 * Each wrap's associated data binds where the key belongs (region and user, and the scope for
 * a category key), so a wrapped key copied to another user or region fails to open. A category
 * key of its own per (service, category) lets one category be shredded (consent withdrawn)
 * without touching the rest; the user key lets all of a user's data be shredded at once.
 * Unwrapped keys are kept in a bounded LRU cache inside the node, so a hot read costs one
 * AES-GCM open, not three.
 *
 * Several nodes of a region may share its store (a PostgreSQL node pool): a key one of them
 * shreds is forgotten by the others when their store tells them (forget, at the shred's
 * commit); while a node cannot hear of shreds it caches nothing (distrust), and when it can
 * again it starts from an empty cache (trust). A key read from the store while a shred of it
 * was heard is used once and not kept: every forget starts a new generation of the cache, and
 * only what was read within the current one is kept.
 */
export const defaultKeyCacheSize = 50_000;

/** wrappedBy of a category key: the user's own key. */
const userKeyParent = 'user-key';

/** The cache's name of a user's key of a scope ('' for the user key). */
export function keyId(userId: string, scope: string): string {
  return `${userId}\0${scope}`;
}

export function categoryScope(service: string, category: string): string {
  return `${service}/${category}`;
}

export interface KeyHierarchyOptions {
  regionId: string;
  store: RegionStore;
  keys: KeySource;
  /** Unwrapped keys kept in memory (default 50,000). */
  cacheSize?: number;
}

export class KeyHierarchy {
  private readonly regionId: string;
  private readonly store: RegionStore;
  private readonly keys: KeySource;
  private readonly cache: LRUCache<string, Buffer>;
  /** Users' record names (which hold their user key), by user: forgotten with the user key. */
  private readonly namesByUser: LRUCache<string, RecordNames>;
  /** Raised by every forget: a key read from the store before it is not kept (see keeps). */
  private generation = 0;
  /** False while the node may miss another node's shreds: nothing is kept then. */
  private trusted = true;

  constructor(options: KeyHierarchyOptions) {
    this.regionId = options.regionId;
    this.store = options.store;
    this.keys = options.keys;
    this.cache = new LRUCache({ max: options.cacheSize ?? defaultKeyCacheSize });
    this.namesByUser = new LRUCache({ max: options.cacheSize ?? defaultKeyCacheSize });
  }

  /** The key that seals a user's records of one category; created (with the user key) if `create`. */
  async categoryKey(userId: string, scope: string, create: true): Promise<Buffer>;
  async categoryKey(userId: string, scope: string, create: false): Promise<Buffer | undefined>;
  async categoryKey(userId: string, scope: string, create: boolean): Promise<Buffer | undefined> {
    if (create) return (await this.categoryKeys([{ userId, scope }])).get(keyId(userId, scope))!;
    const cached = this.cache.get(keyId(userId, scope));
    if (cached) return cached;
    const since = this.generation;
    const wrapped = await this.store.getKey(userId, scope);
    return wrapped && this.openCategoryKey(wrapped, since);
  }

  /**
   * The category keys of many (user, scope) pairs, by keyId, created where missing: what an
   * import of a batch of users needs. New keys are stored in two transactions for the whole
   * call (the user keys, then the category keys they wrap), not two per user. Where another
   * request stored a key first, putKeysIfAbsent returns theirs, and that one is used.
   */
  async categoryKeys(wanted: ReadonlyArray<{ userId: string; scope: string }>): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>();
    const missing: Array<{ userId: string; scope: string }> = [];
    const seen = new Set<string>();
    const since = this.generation;
    const loaded = await this.preload(wanted);
    for (const { userId, scope } of wanted) {
      const id = keyId(userId, scope);
      if (seen.has(id)) continue;
      seen.add(id);
      const cached = this.cache.get(id);
      const stored = cached ? undefined : loaded.get(id);
      if (cached) found.set(id, cached);
      // Stored but not opened by preload (its user key is gone): openCategoryKey says why.
      else if (stored) found.set(id, await this.openCategoryKey(stored, since));
      else missing.push({ userId, scope });
    }
    if (missing.length === 0) return found;
    const userKeys = await this.userKeys([...new Set(missing.map((m) => m.userId))], since);
    const fresh = missing.map(({ userId, scope }) => ({
      userId,
      scope,
      wrapped: seal(userKeys.get(userId)!, randomBytes(aeadKeyBytes), this.categoryAad(userId, scope)),
      wrappedBy: userKeyParent,
      createdAt: Date.now(),
    }));
    for (const stored of await this.store.putKeysIfAbsent(fresh))
      found.set(keyId(stored.userId, stored.scope), await this.openCategoryKey(stored, since));
    return found;
  }

  /**
   * Loads the keys of these (user, scope) pairs that are stored and not cached, with their
   * users' user keys, in one store call, and caches those that open: what a batch of users'
   * export, digest or import does first, rather than a round trip per user and scope. Answers
   * the keys it found stored, by keyId. A pair of scope '' asks for a user key alone.
   */
  async preload(pairs: ReadonlyArray<{ userId: string; scope: string }>): Promise<Map<string, WrappedKey>> {
    const wanted = new Map<string, { userId: string; scope: string }>();
    for (const { userId, scope } of pairs) {
      for (const ref of [
        { userId, scope: '' },
        { userId, scope },
      ]) {
        const id = keyId(ref.userId, ref.scope);
        if (!wanted.has(id) && !this.cache.get(id)) wanted.set(id, ref);
      }
    }
    const loaded = new Map<string, WrappedKey>();
    if (wanted.size === 0) return loaded;
    const since = this.generation;
    const stored = await this.store.getKeys([...wanted.values()]);
    for (const k of stored) loaded.set(keyId(k.userId, k.scope), k);
    for (const k of stored) if (k.scope === '') this.openUserKey(k, since);
    for (const k of stored)
      if (k.scope !== '' && this.cache.get(keyId(k.userId, ''))) await this.openCategoryKey(k, since);
    return loaded;
  }

  /** A stored record's value, opened under its category's key; INTEGRITY when the key is gone or the record does not open. */
  async openRecord(record: StoredRecord, category: string): Promise<unknown> {
    const scope = categoryScope(record.service, category);
    const dataKey = await this.categoryKey(record.userId, scope, false);
    if (!dataKey) {
      throw new DomicileError(
        'INTEGRITY',
        `record ${record.service}/${record.collection}/${record.key} of user ${record.userId} has no ${scope} key in region ${this.regionId} (was it shredded?)`,
      );
    }
    return openValue(dataKey, record.ciphertext, {
      regionId: this.regionId,
      userId: record.userId,
      service: record.service,
      collection: record.collection,
      key: record.key,
      version: record.version,
    });
  }

  /**
   * The user's record names here (keyIds, sealed keys: record-names.ts), from their user key;
   * undefined when they have none and `create` is false (then no record of theirs is here).
   */
  async names(userId: string, create: true): Promise<RecordNames>;
  async names(userId: string, create: boolean): Promise<RecordNames | undefined>;
  async names(userId: string, create: boolean): Promise<RecordNames | undefined> {
    const cached = this.namesByUser.get(userId);
    if (cached) return cached;
    const since = this.generation;
    const userKey =
      this.cache.get(keyId(userId, '')) ??
      (create ? (await this.userKeys([userId], since)).get(userId) : await this.storedUserKey(userId, since));
    if (!userKey) return undefined;
    const names = new RecordNames(this.regionId, userId, userKey);
    if (this.keeps(since)) this.namesByUser.set(userId, names);
    return names;
  }

  /** The category key if it is in the cache; never touches the store. */
  cached(userId: string, scope: string): Buffer | undefined {
    return this.cache.get(keyId(userId, scope));
  }

  /** Forgets cached keys of a user (every scope, or those under a prefix), after they are shredded. */
  forget(userId: string, scopePrefix = ''): void {
    this.generation++;
    const prefix = keyId(userId, scopePrefix);
    for (const k of [...this.cache.keys()]) if (k.startsWith(prefix)) this.cache.delete(k);
    if (scopePrefix === '') this.namesByUser.delete(userId);
  }

  /** Shreds by others may go unheard from now: forgets every key and keeps none until trust. */
  distrust(): void {
    this.trusted = false;
    this.forgetAll();
  }

  /** Every shred is heard again: starts from an empty cache (what was missed is gone with it). */
  trust(): void {
    this.forgetAll();
    this.trusted = true;
  }

  private forgetAll(): void {
    this.generation++;
    this.cache.clear();
    this.namesByUser.clear();
  }

  /** Whether a key read from the store in generation `since` may be kept: no shred heard since, and shreds are heard. */
  private keeps(since: number): boolean {
    return this.trusted && since === this.generation;
  }

  private async openCategoryKey(wrapped: WrappedKey, since: number): Promise<Buffer> {
    const { userId, scope } = wrapped;
    const userKey = this.cache.get(keyId(userId, '')) ?? (await this.storedUserKey(userId, since));
    if (!userKey) {
      throw new DomicileError(
        'INTEGRITY',
        `user ${userId} has a ${scope} key in region ${this.regionId} but no user key to open it (was it shredded?)`,
      );
    }
    const key = open(userKey, wrapped.wrapped, this.categoryAad(userId, scope));
    if (this.keeps(since)) this.cache.set(keyId(userId, scope), key);
    return key;
  }

  private async storedUserKey(userId: string, since: number): Promise<Buffer | undefined> {
    const wrapped = await this.store.getKey(userId, '');
    return wrapped && this.openUserKey(wrapped, since);
  }

  private openUserKey(wrapped: WrappedKey, since: number): Buffer {
    const key = this.keys.unwrap(wrapped.wrapped, this.userAad(wrapped.userId));
    if (this.keeps(since)) this.cache.set(keyId(wrapped.userId, ''), key);
    return key;
  }

  /** The user keys of these users, created (in one transaction) for those who have none. */
  private async userKeys(userIds: readonly string[], since: number): Promise<Map<string, Buffer>> {
    const keys = new Map<string, Buffer>();
    const fresh: WrappedKey[] = [];
    for (const userId of userIds) {
      const key = this.cache.get(keyId(userId, '')) ?? (await this.storedUserKey(userId, since));
      if (key) keys.set(userId, key);
      else
        fresh.push({
          userId,
          scope: '',
          wrapped: this.keys.wrap(randomBytes(aeadKeyBytes), this.userAad(userId)),
          wrappedBy: this.keys.kekId,
          createdAt: Date.now(),
        });
    }
    if (fresh.length > 0)
      for (const stored of await this.store.putKeysIfAbsent(fresh))
        keys.set(stored.userId, this.openUserKey(stored, since));
    return keys;
  }

  // JSON arrays: unambiguous whatever the ids hold, unlike joining with a separator.
  private userAad(userId: string): Buffer {
    return Buffer.from(JSON.stringify(['domicile/user-key/v1', this.regionId, userId]), 'utf8');
  }

  private categoryAad(userId: string, scope: string): Buffer {
    return Buffer.from(JSON.stringify(['domicile/category-key/v1', this.regionId, userId, scope]), 'utf8');
  }
}
