import { randomBytes } from 'node:crypto';
import { aeadKeyBytes, open, seal } from '../crypto/aead.js';
import type { KeySource } from '../crypto/key-source.js';
import { DomicileError } from '../errors/domicile-error.js';
import type { RegionStore } from '../store/region-store.js';
import { LruCache } from '../shared/lru-cache.js';

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
 */
export const defaultKeyCacheSize = 50_000;

/** wrappedBy of a category key: the user's own key. */
const userKeyParent = 'user-key';

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
  private readonly cache: LruCache<string, Buffer>;

  constructor(options: KeyHierarchyOptions) {
    this.regionId = options.regionId;
    this.store = options.store;
    this.keys = options.keys;
    this.cache = new LruCache(options.cacheSize ?? defaultKeyCacheSize);
  }

  /** The key that seals a user's records of one category; created (with the user key) if `create`. */
  async categoryKey(userId: string, scope: string, create: true): Promise<Buffer>;
  async categoryKey(userId: string, scope: string, create: false): Promise<Buffer | undefined>;
  async categoryKey(userId: string, scope: string, create: boolean): Promise<Buffer | undefined> {
    const cacheKey = `${userId}\0${scope}`;
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    const aad = this.categoryAad(userId, scope);
    let wrapped = await this.store.getKey(userId, scope);
    if (!wrapped) {
      if (!create) return undefined;
      const userKey = await this.userKey(userId);
      // If another request stored a key meanwhile, putKeyIfAbsent returns theirs: use that one.
      wrapped = await this.store.putKeyIfAbsent({
        userId, scope, wrapped: seal(userKey, randomBytes(aeadKeyBytes), aad), wrappedBy: userKeyParent, createdAt: Date.now(),
      });
    }
    const userKey = await this.userKey(userId, false);
    if (!userKey) {
      throw new DomicileError('INTEGRITY', `user ${userId} has a ${scope} key in region ${this.regionId} but no user key to open it (was it shredded?)`);
    }
    const key = open(userKey, wrapped.wrapped, aad);
    this.cache.set(cacheKey, key);
    return key;
  }

  /** The category key if it is in the cache; never touches the store. */
  cached(userId: string, scope: string): Buffer | undefined {
    return this.cache.get(`${userId}\0${scope}`);
  }

  /** Forgets cached keys of a user (every scope, or those under a prefix), after they are shredded. */
  forget(userId: string, scopePrefix = ''): void {
    const prefix = `${userId}\0${scopePrefix}`;
    this.cache.deleteWhere((k) => k.startsWith(prefix));
  }

  private async userKey(userId: string, create?: true): Promise<Buffer>;
  private async userKey(userId: string, create: false): Promise<Buffer | undefined>;
  private async userKey(userId: string, create = true): Promise<Buffer | undefined> {
    const cacheKey = `${userId}\0`;
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    const aad = this.userAad(userId);
    let wrapped = await this.store.getKey(userId, '');
    if (!wrapped) {
      if (!create) return undefined;
      wrapped = await this.store.putKeyIfAbsent({
        userId, scope: '', wrapped: this.keys.wrap(randomBytes(aeadKeyBytes), aad), wrappedBy: this.keys.kekId, createdAt: Date.now(),
      });
    }
    const key = this.keys.unwrap(wrapped.wrapped, aad);
    this.cache.set(cacheKey, key);
    return key;
  }

  // JSON arrays: unambiguous whatever the ids hold, unlike joining with a separator.
  private userAad(userId: string): Buffer {
    return Buffer.from(JSON.stringify(['domicile/user-key/v1', this.regionId, userId]), 'utf8');
  }

  private categoryAad(userId: string, scope: string): Buffer {
    return Buffer.from(JSON.stringify(['domicile/category-key/v1', this.regionId, userId, scope]), 'utf8');
  }
}
