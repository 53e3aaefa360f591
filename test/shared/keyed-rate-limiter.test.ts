import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../src/shared/keyed-rate-limiter.js';

describe('KeyedRateLimiter', () => {
  it('allows a burst of `limit` per key, then one per window/limit, and says how long to wait', () => {
    let now = 0;
    const limiter = new KeyedRateLimiter({ limit: 3, windowSeconds: 30 }, 100, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(10);
    expect(limiter.take('b')).toBe(0);
    now = 9_000;
    expect(limiter.take('a')).toBe(1);
    now = 10_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10);
    limiter.reset('a');
    expect(limiter.take('a')).toBe(0);
  });

  it('remembers at most maxKeys keys, and refuses a new key rather than forget a drained bucket', () => {
    let now = 0;
    const limiter = new KeyedRateLimiter({ limit: 1, windowSeconds: 60 }, 2, () => now, 'logins-per-identifier');
    for (const k of ['a', 'b']) expect(limiter.take(k)).toBe(0);
    // Both drained: forgetting either would hand it a fresh burst.
    expect(() => limiter.take('c')).toThrow(
      expect.objectContaining({
        code: 'RATE_LIMITED',
        details: { limit: 'logins-per-identifier-capacity', retryAfterSeconds: 60 },
      }) as Error,
    );
    expect(limiter.size).toBe(2);
    expect(limiter.take('a')).toBe(60);
    // Once a bucket has refilled it carries nothing and makes room.
    now = 60_000;
    expect(limiter.take('c')).toBe(0);
    expect(limiter.size).toBe(1);
  });

  it('never hands an evicted key a fresh burst: a flood of new keys cannot reset a drained one', () => {
    let now = 0;
    const limiter = new KeyedRateLimiter({ limit: 3, windowSeconds: 300 }, 100, () => now);
    for (let i = 0; i < 3; i++) limiter.take('victim');
    expect(limiter.take('victim')).toBeGreaterThan(0);
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      now += 10;
      try {
        limiter.take(`random-${i}`);
      } catch {
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(limiter.size).toBeLessThanOrEqual(100);
    expect(limiter.take('victim')).toBeGreaterThan(0);
  });

  it('gives back a token that was not spent (a login whose password was right)', () => {
    const limiter = new KeyedRateLimiter({ limit: 2, windowSeconds: 60 }, 10, () => 0);
    expect(limiter.take('a')).toBe(0);
    limiter.refund('a');
    expect(limiter.size).toBe(0);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 30]);
    limiter.refund('a');
    expect(limiter.take('a')).toBe(0);
  });

  it('refuses nonsensical limits', () => {
    expect(() => new KeyedRateLimiter({ limit: 0, windowSeconds: 60 }, 10)).toThrow(/limit/);
    expect(() => new KeyedRateLimiter({ limit: 1, windowSeconds: 0 }, 10)).toThrow(/window/);
  });
});
