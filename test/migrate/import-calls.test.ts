import { describe, expect, it } from 'vitest';
import { bytesPerImport, framingBytes } from '../../src/migrate/apply-changes.js';
import { importCalls } from '../../src/migrate/copy-batch.js';
import type { ExportedRecord } from '../../src/region/region-client.js';

const record = (key: string, bytes: number): ExportedRecord => ({
  collection: 'orders',
  key,
  version: 1,
  updatedAt: 0,
  value: null,
  hash: '0'.repeat(64),
  bytes,
});
const mover = (userId: string) => ({ userId, market: 'SG', epoch: 1 });

describe('the import calls of a copy', () => {
  it('stay under the body budget whatever the sizes, carry every record once, and keep users without records', () => {
    const big = 900 * 1024;
    const exported = new Map([
      ['u1', [record('a', 1_000), record('b', 2_000)]],
      ['u2', [record('c', big), record('d', big), record('e', big)]], // one user over a whole call
      ['u3', []],
      ['u4', [record('f', 10)]],
    ]);
    const calls = importCalls(['u1', 'u2', 'u3', 'u4'].map(mover), exported);
    expect(calls.length).toBeGreaterThan(1);
    for (const call of calls) {
      const size = call.reduce(
        (n, u) => n + u.states.records.reduce((m, r) => m + (r as ExportedRecord).bytes + framingBytes, 0),
        0,
      );
      expect(size).toBeLessThanOrEqual(bytesPerImport);
    }
    const carried = calls.flatMap((c) => c.flatMap((u) => u.states.records.map((r) => `${u.userId}/${r.key}`)));
    expect(carried.sort()).toEqual(['u1/a', 'u1/b', 'u2/c', 'u2/d', 'u2/e', 'u4/f']);
    expect(calls.flat().some((u) => u.userId === 'u3')).toBe(true);
  });
});
