import { randomBytes } from 'node:crypto';
import type { Platform } from '../src/platform/platform.js';
import { routeToHome } from '../src/platform/route-to-home.js';
import { RateLimiter } from '../src/migrate/rate-limiter.js';
import { yieldToEventLoop } from '../src/migrate/yield-to-event-loop.js';

/** A JSON value of about `bytes` bytes, different for every n (no two records alike). */
export function recordValue(n: number, bytes: number, pool: string): { n: number; sku: string; note: string } {
  const start = (n * 7919) % Math.max(1, pool.length - bytes);
  return { n, sku: `sku-${n % 997}`, note: pool.slice(start, start + Math.max(0, bytes - 40)) };
}

export function valuePool(): string {
  return randomBytes(96 * 1024).toString('base64');
}

type Touched = { version: number; n: number } | 'deleted';

/**
 * The benchmark's random writer, in process: about a third inserts, updates and deletes of
 * ~1 KB records of the moving users' shop, at a fixed rate, through the same routing as the
 * gateway (routeToHome: the directory's home and epoch, retried while fenced). It remembers
 * what was acknowledged for every key it touched, and how the row count changed, so that the
 * end can count what was lost.
 */
export class BenchWriter {
  private readonly touched = new Map<string, Touched>();
  private readonly limiter: RateLimiter;
  private running = false;
  private loops: Promise<void>[] = [];
  private n = 1_000_000_000;
  readonly counts = { insert: 0, update: 0, delete: 0, failed: 0 };
  /** Rows the writer added minus rows it removed. */
  delta = 0;

  constructor(
    private readonly platform: Platform,
    private readonly users: readonly string[],
    private readonly seeded: number,
    private readonly options: { opsPerSecond: number; valueBytes: number; pool: string },
  ) {
    this.limiter = new RateLimiter(() => options.opsPerSecond);
  }

  get acknowledged(): number {
    return this.counts.insert + this.counts.update + this.counts.delete;
  }

  start(concurrency = 4): void {
    if (this.options.opsPerSecond <= 0) return;
    this.running = true;
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private live(id: string, seededKey: boolean): boolean {
    const t = this.touched.get(id);
    return t === undefined ? seededKey : t !== 'deleted';
  }

  private async loop(): Promise<void> {
    while (this.running) {
      await this.limiter.take(1);
      const userId = this.users[Math.floor(Math.random() * this.users.length)]!;
      const r = Math.random();
      const n = ++this.n;
      // Updates and deletes hit the seeded records; inserts add new ones.
      const key = r < 1 / 3 ? `w${n}` : `r${Math.floor(Math.random() * this.seeded)}`;
      const id = `${userId}/${key}`;
      const exists = this.live(id, key.startsWith('r'));
      const op = r < 1 / 3 || !exists ? 'insert' : r < 2 / 3 ? 'update' : 'delete';
      try {
        if (op === 'delete') {
          await routeToHome(this.platform, userId, 'shop', (c, ref) => c.deleteRecord({ ...ref, collection: 'orders', key }));
          this.touched.set(id, 'deleted');
          this.delta--;
        } else {
          const value = recordValue(n, this.options.valueBytes, this.options.pool);
          const { version } = await routeToHome(this.platform, userId, 'shop', (c, ref) => c.putRecord({ ...ref, collection: 'orders', key, value }));
          this.touched.set(id, { version, n });
          if (!exists) this.delta++;
        }
        this.counts[op]++;
      } catch {
        // Refused (fenced past the retry budget): not acknowledged, not applied.
        this.counts.failed++;
      }
      await yieldToEventLoop();
    }
  }

  /** Keys whose served state is not what was acknowledged. */
  async lost(): Promise<number> {
    let lost = 0;
    for (const [id, t] of this.touched) {
      const [userId, key] = id.split('/') as [string, string];
      const record = await routeToHome(this.platform, userId, 'shop', (c, ref) => c.getRecord({ ...ref, collection: 'orders', key }));
      const served = record === null ? 'deleted' : { version: record.version, n: (record.value as { n: number }).n };
      if (t === 'deleted' ? served !== 'deleted' : served === 'deleted' || served.version !== t.version || served.n !== t.n) lost++;
    }
    return lost;
  }
}
