import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../../src/shared/keyed-lock.js';

describe('KeyedLock', () => {
  it('runs the tasks of one key one after another, of different keys at once, and forgets a key when done', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([lock.run('a', task('a1', 20)), lock.run('a', task('a2', 1)), lock.run('b', task('b1', 5))]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    // a2 waits for a1; b1 runs beside them.
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
    // A failing task releases its key too.
    await expect(lock.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run('a', async () => 'after')).toBe('after');
    expect(lock.size).toBe(0);
  });
});
