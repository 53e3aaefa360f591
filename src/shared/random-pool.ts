import { randomBytes } from 'node:crypto';

/**
 * Fresh random bytes taken from a pool refilled 16 KiB at a time: one call to the CSPRNG per
 * many takes instead of one each. A call to randomBytes costs microseconds whatever its size,
 * which on the request path (an id per request, an IV per sealed value) was a tenth of a read's
 * CPU time. Every byte is handed out once: callers get disjoint slices, never the same bytes.
 */
const poolBytes = 16 * 1024;
let pool = Buffer.alloc(0);
let offset = 0;

/** `n` fresh random bytes (n ≤ 16 KiB), a view into the pool: copy them if they are kept. */
export function takeRandomBytes(n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomBytes(Math.max(poolBytes, n));
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + n);
  offset += n;
  return bytes;
}
