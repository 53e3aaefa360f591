import { DomicileError } from '../errors/domicile-error.js';
import { LruCache } from './lru-cache.js';

/** `limit` events per `windowSeconds`, as a token bucket: a burst of `limit`, then one every window/limit. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** Validated; BAD_REQUEST naming `what` (the flag or option) otherwise. */
export function checkRateLimit(limit: RateLimit, what: string): RateLimit {
  if (!Number.isInteger(limit.limit) || limit.limit < 1 || limit.limit > 1_000_000_000) {
    throw new DomicileError('BAD_REQUEST', `${what}: the limit is a whole number from 1 to 1000000000, not ${String(limit.limit)}`);
  }
  if (!Number.isFinite(limit.windowSeconds) || limit.windowSeconds < 1 || limit.windowSeconds > 7 * 24 * 3600) {
    throw new DomicileError('BAD_REQUEST', `${what}: the window is from 1 second to 7 days, not ${String(limit.windowSeconds)} s`);
  }
  return limit;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per key, in memory, at most `maxKeys` of them (the least recently used is
 * forgotten first, which costs its key a fresh burst, never a false refusal). A key's bucket
 * is dropped once it has refilled: a full bucket and no bucket mean the same.
 */
export class KeyedRateLimiter {
  private readonly buckets: LruCache<string, Bucket>;
  private readonly perMs: number;

  constructor(readonly rate: RateLimit, maxKeys: number, private readonly now: () => number = Date.now) {
    checkRateLimit(rate, 'rate limit');
    this.buckets = new LruCache(maxKeys);
    this.perMs = rate.limit / (rate.windowSeconds * 1000);
  }

  /** Takes one event for `key`: 0 when allowed, else the whole seconds until one will be. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key);
    const tokens = bucket === undefined ? this.rate.limit : Math.min(this.rate.limit, bucket.tokens + (now - bucket.at) * this.perMs);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.buckets.set(key, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  /** Forgets `key`: its next event starts a fresh burst. */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
