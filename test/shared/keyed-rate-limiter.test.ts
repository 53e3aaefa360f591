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

  it('remembers at most maxKeys keys', () => {
    const limiter = new KeyedRateLimiter({ limit: 1, windowSeconds: 60 }, 2, () => 0);
    for (const k of ['a', 'b', 'c']) limiter.take(k);
    expect(limiter.size).toBe(2);
  });

  it('refuses nonsensical limits', () => {
    expect(() => new KeyedRateLimiter({ limit: 0, windowSeconds: 60 }, 10)).toThrow(/limit/);
    expect(() => new KeyedRateLimiter({ limit: 1, windowSeconds: 0 }, 10)).toThrow(/window/);
  });
});
