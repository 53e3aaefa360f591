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
    const results = await Promise.all([
      lock.run('a', task('a1', 20)),
      lock.run('a', task('a2', 1)),
      lock.run('b', task('b1', 5)),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    // a2 waits for a1; b1 runs beside them.
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
    // A failing task releases its key too.
    await expect(lock.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run('a', async () => 'after')).toBe('after');
    expect(lock.size).toBe(0);
  });

  it('holds several keys at once, queued behind each in the order asked, so tasks naming them in any order never deadlock', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const opened: Array<() => void> = [];
    const task = (name: string) => async () => {
      log.push(`start ${name}`);
      await new Promise<void>((resolve) => opened.push(resolve));
      log.push(`end ${name}`);
      return name;
    };
    const running = [
      lock.run('a', task('a')),
      lock.run(['a', 'b'], task('ab')),
      lock.run(['b', 'a', 'b'], task('ba')),
      lock.run('b', task('b')),
      lock.run('c', task('c')),
    ];
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Only a and c run: ab waits for a, ba for ab (on both keys), b for ba.
    expect(log).toEqual(['start a', 'start c']);
    expect(lock.size).toBe(3);
    while (opened.length > 0) {
      opened.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await Promise.all(running)).toEqual(['a', 'ab', 'ba', 'b', 'c']);
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start a', 'start c', 'start ab', 'start ba', 'start b']);
    for (const [first, then] of [
      ['a', 'ab'],
      ['ab', 'ba'],
      ['ba', 'b'],
    ])
      expect(log.indexOf(`start ${then}`)).toBeGreaterThan(log.indexOf(`end ${first}`));
    expect(lock.size).toBe(0);
  });
});
