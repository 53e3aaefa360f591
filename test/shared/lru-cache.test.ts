import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/shared/lru-cache.js';

describe('LruCache', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const cache = new LruCache<string, number>(3);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('d', 4);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
    expect(cache.size).toBe(3);
    cache.set('c', 30);
    expect(cache.get('c')).toBe(30);
    expect(cache.size).toBe(3);
  });

  it('deletes by predicate and refuses a zero capacity', () => {
    const cache = new LruCache<string, number>(10);
    for (const k of ['u1\0', 'u1\0shop/orders', 'u12\0shop/orders', 'u2\0']) cache.set(k, 1);
    expect(cache.deleteWhere((k) => k.startsWith('u1\0'))).toBe(2);
    expect(cache.get('u12\0shop/orders')).toBe(1);
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});
