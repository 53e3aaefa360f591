import { describe, expect, it } from 'vitest';
import { DomicileError } from '../../src/errors/domicile-error.js';
import { BoundedConcurrency } from '../../src/shared/bounded-concurrency.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('BoundedConcurrency', () => {
  it('runs at most `concurrency` at once, queues up to `maxQueue` in order, refuses the rest at once', async () => {
    const gate = new BoundedConcurrency({ concurrency: 2, maxQueue: 2 }, 'tasks');
    const blockers = Array.from({ length: 4 }, () => deferred());
    const started: number[] = [];
    const runs = blockers.map((b, i) =>
      gate.run(async () => {
        started.push(i);
        await b.promise;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(gate.stats()).toMatchObject({ running: 2, queued: 2 });
    await expect(gate.run(async () => 99)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      details: { retryAfterSeconds: 1 },
    });
    blockers[1]!.resolve();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const b of blockers) b.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(gate.stats()).toEqual({ running: 0, queued: 0, peakRunning: 2, completed: 4, refused: 1 });
  });

  it('admits while a task would be taken, refuses with the given error once it would not', async () => {
    const gate = new BoundedConcurrency(
      { concurrency: 1, maxQueue: 1 },
      'tasks',
      () => new DomicileError('RATE_LIMITED', 'busy'),
    );
    const blocker = deferred();
    gate.admit();
    const first = gate.run(() => blocker.promise);
    gate.admit();
    const second = gate.run(async () => 'second');
    expect(() => gate.admit()).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    await expect(gate.run(async () => 'third')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    blocker.resolve();
    await first;
    expect(await second).toBe('second');
    gate.admit();
    expect(gate.stats().refused).toBe(2);
  });

  it('frees its slot when a task fails', async () => {
    const gate = new BoundedConcurrency({ concurrency: 1, maxQueue: 0 }, 'tasks');
    await expect(
      gate.run(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await gate.run(async () => 'next')).toBe('next');
  });

  it('refuses nonsensical bounds, naming them', () => {
    expect(() => new BoundedConcurrency({ concurrency: 0, maxQueue: 1 }, 'password checks')).toThrow(
      /password checks: concurrency/,
    );
    expect(() => new BoundedConcurrency({ concurrency: 1.5, maxQueue: 1 }, 'x')).toThrow(/concurrency/);
    expect(() => new BoundedConcurrency({ concurrency: 1, maxQueue: -1 }, 'x')).toThrow(/queue/);
  });
});
