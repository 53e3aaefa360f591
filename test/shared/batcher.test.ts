import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/shared/batcher.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it("'in-flight': a lone request leaves at once, those that come meanwhile leave together when it is back, at most maxBatch a batch", async () => {
    const batches: number[][] = [];
    const back: Array<() => void> = [];
    const batcher = new Batcher<number, string>(
      async (items) => {
        batches.push(items);
        await new Promise<void>((resolve) => back.push(resolve));
        if (items.includes(13)) throw new Error('unlucky batch');
        return items.map((i) => `#${i}`);
      },
      { inFlight: 1, maxBatch: 3 },
    );
    const answers = [1, 2, 3, 4, 13].map((i) => batcher.submit(i).catch((e: Error) => e.message));
    expect(batches).toEqual([[1]]);
    while (back.length > 0) {
      back.shift()!();
      await turn();
    }
    expect(batches).toEqual([[1], [2, 3, 4], [13]]);
    // Each answer is its own; a failed batch fails its requests alone.
    expect(await Promise.all(answers)).toEqual(['#1', '#2', '#3', '#4', 'unlucky batch']);
  });

  it("'turn': a request alone in its turn runs at once; two in one turn gather the turn's requests into one batch, until one comes alone again", async () => {
    const batches: string[][] = [];
    const batcher = new Batcher<string, string>(
      (items) => {
        batches.push(items);
        if (items.includes('refused')) throw new Error('commit failed');
        return items.map((i) => i.toUpperCase());
      },
      { gather: 'turn' },
    );
    const alone = batcher.submit('a');
    // Synchronous: committed before submit returned.
    expect(batches).toEqual([['a']]);
    const gathered = [batcher.submit('b'), batcher.submit('c'), batcher.submit('d')];
    expect(batches).toEqual([['a']]);
    await turn();
    expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
    expect(await Promise.all([alone, ...gathered])).toEqual(['A', 'B', 'C', 'D']);
    // Still gathering in the next turn: this one waits for the turn's end too, then the batch of one ends the gathering.
    const next = batcher.submit('e');
    expect(batches).toHaveLength(2);
    await turn();
    expect(batches[2]).toEqual(['e']);
    await next;
    await turn();
    void batcher.submit('f');
    expect(batches[3]).toEqual(['f']);
    // leaveNow sends a gathering batch at once; a failure fails each of its requests.
    const failing = [batcher.submit('g'), batcher.submit('refused')].map((p) => p.catch((e: Error) => e.message));
    expect(batches).toHaveLength(4);
    batcher.leaveNow();
    expect(batches[4]).toEqual(['g', 'refused']);
    expect(await Promise.all(failing)).toEqual(['commit failed', 'commit failed']);
    await turn();
    expect(batches).toHaveLength(5);
  });

  it('{ ms }: every batch waits that long after its first request, and takes every request that came meanwhile', async () => {
    const batches: Array<{ items: number[]; at: number }> = [];
    const start = Date.now();
    const batcher = new Batcher<number, number>(
      (items) => {
        batches.push({ items, at: Date.now() - start });
        return items.map((i) => i * 2);
      },
      { gather: { ms: 30 } },
    );
    const first = batcher.submit(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = batcher.submit(2);
    expect(batches).toEqual([]);
    expect(await Promise.all([first, second])).toEqual([2, 4]);
    expect(batches.map((b) => b.items)).toEqual([[1, 2]]);
    expect(batches[0]!.at).toBeGreaterThanOrEqual(29);
  });
});
