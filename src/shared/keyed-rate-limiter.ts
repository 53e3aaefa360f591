import { DomicileError } from '../errors/domicile-error.js';

/** `limit` events per `windowSeconds`, as a token bucket: a burst of `limit`, then one every window/limit. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** Validated; BAD_REQUEST naming `what` (the flag or option) otherwise. */
export function checkRateLimit(limit: RateLimit, what: string): RateLimit {
  if (!Number.isInteger(limit.limit) || limit.limit < 1 || limit.limit > 1_000_000_000) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${what}: the limit is a whole number from 1 to 1000000000, not ${String(limit.limit)}`,
    );
  }
  if (!Number.isFinite(limit.windowSeconds) || limit.windowSeconds < 1 || limit.windowSeconds > 7 * 24 * 3600) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${what}: the window is from 1 second to 7 days, not ${String(limit.windowSeconds)} s`,
    );
  }
  return limit;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** How many of the least recently used buckets a full limiter looks at for one that has refilled. */
const evictionScan = 64;

/**
 * Token buckets per key, in memory, at most `maxKeys` of them. A bucket at its full budget
 * carries nothing (no bucket means the same), so only those are forgotten to make room: a
 * drained bucket is never forgotten, since forgetting it would hand its key a fresh burst (a
 * flood of new keys would reset a victim's). When none of the oldest can go, a new key is
 * refused (RATE_LIMITED, `details.limit` `<name>-capacity`) until one has refilled.
 */
export class KeyedRateLimiter {
  /** In order of last use (a Map iterates in insertion order and every use re-inserts). */
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly rate: RateLimit,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
    /** Names the limit in a refusal for want of room. */
    readonly name = 'rate-limit',
  ) {
    checkRateLimit(rate, 'rate limit');
    if (!Number.isInteger(maxKeys) || maxKeys < 1)
      throw new RangeError(`a rate limiter remembers at least 1 key, not ${maxKeys}`);
    this.perMs = rate.limit / (rate.windowSeconds * 1000);
  }

  /**
   * Takes one event for `key`: 0 when allowed, else the whole seconds until one will be.
   * Throws RATE_LIMITED when `key` is new and every bucket remembered is still drained.
   */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key);
    if (bucket === undefined) this.makeRoom(now);
    const tokens = this.tokensOf(bucket, now);
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.buckets.set(key, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  /** Gives back one event taken for `key` (it was not spent after all); a bucket back at its full budget is forgotten. */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return;
    const now = this.now();
    const tokens = this.tokensOf(bucket, now) + 1;
    if (tokens >= this.rate.limit) this.buckets.delete(key);
    else this.buckets.set(key, { tokens, at: now });
  }

  /** Forgets `key`: its next event starts a fresh burst. */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }

  private tokensOf(bucket: Bucket | undefined, now: number): number {
    return bucket === undefined
      ? this.rate.limit
      : Math.min(this.rate.limit, bucket.tokens + (now - bucket.at) * this.perMs);
  }

  /** Before a new key: forgets refilled buckets among the oldest, or refuses when none has refilled. */
  private makeRoom(now: number): void {
    if (this.buckets.size < this.maxKeys) return;
    let scanned = 0;
    let soonest = Number.POSITIVE_INFINITY;
    for (const [key, bucket] of this.buckets) {
      if (scanned++ >= evictionScan) break;
      const tokens = this.tokensOf(bucket, now);
      if (tokens >= this.rate.limit) this.buckets.delete(key);
      else soonest = Math.min(soonest, (this.rate.limit - tokens) / this.perMs);
    }
    if (this.buckets.size < this.maxKeys) return;
    const retryAfterSeconds = Math.max(1, Math.ceil(soonest / 1000));
    throw new DomicileError(
      'RATE_LIMITED',
      `too many clients are being counted at once (${this.name}): try again in ${retryAfterSeconds} s`,
      {
        details: { limit: `${this.name}-capacity`, retryAfterSeconds },
      },
    );
  }
}
