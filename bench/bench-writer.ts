import { randomBytes } from 'node:crypto';
import { RateLimiter } from '../src/migrate/rate-limiter.js';
import { yieldToEventLoop } from '../src/migrate/yield-to-event-loop.js';
import type { Platform } from '../src/platform/platform.js';
import { routeToHome } from '../src/platform/route-to-home.js';
import { meteredAs } from '../src/store/postgres/pg-query-meter.js';

/** A JSON value of about `bytes` bytes, different for every n (no two records alike). */
export function recordValue(n: number, bytes: number, pool: string): { n: number; sku: string; note: string } {
  const start = (n * 7919) % Math.max(1, pool.length - bytes);
  return { n, sku: `sku-${n % 997}`, note: pool.slice(start, start + Math.max(0, bytes - 40)) };
}

export function valuePool(): string {
  return randomBytes(96 * 1024).toString('base64');
}

/** What a key holds as far as the writer knows: a record's version and value number, or nothing. */
type KeyState = { version: number; n: number } | 'deleted';

/** The writer's end check, in two parts that fail for different reasons. */
export interface WriterCheck {
  /**
   * Keys served differently from their last acknowledged write, plus deletes that found no
   * row where an acknowledged one should have been: each an acknowledged write lost.
   */
  lostKeys: number;
  /**
   * Rows served minus rows expected (the seeded rows, plus the writer's acknowledged inserts,
   * minus its acknowledged deletes): also sees a seeded row the writer never touched go missing.
   */
  rowCountDrift: number;
}

/**
 * The benchmark's random writer, in process: about a third inserts, updates and deletes of
 * ~1 KB records of the moving users' shop, at a fixed rate, through the same routing as the
 * gateway (routeToHome: the directory's home and epoch, retried while fenced).
 *
 * At most one operation per key is in flight, so what the writer remembers of a key is what the
 * store last acknowledged for it, and a row is counted once however many loops run. A refused
 * write counts as refused, never as acknowledged; since a refusal may come after the store
 * applied it (a connection lost at commit), the key is then read again and its state taken from
 * the store (counted apart: refusedButApplied), or, when that read fails too, left out of the
 * check (unresolved).
 */
export class BenchWriter {
  private readonly acked = new Map<string, KeyState>();
  private readonly inFlight = new Set<string>();
  private readonly unresolvedKeys = new Set<string>();
  private readonly limiter: RateLimiter;
  private running = false;
  private loops: Promise<void>[] = [];
  private n = 1_000_000_000;
  /** Rows the writer's acknowledged (or applied) writes added minus those they removed. */
  private rowDelta = 0;
  /** Acknowledged deletes of a key the writer knew live that found nothing to delete. */
  private missingAtDelete = 0;
  readonly counts = { insert: 0, update: 0, delete: 0, refused: 0, refusedButApplied: 0 };

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

  /** Keys whose state after a refusal could not be read: left out of the check. */
  get unresolved(): number {
    return this.unresolvedKeys.size;
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

  private stateOf(id: string, key: string): KeyState | undefined {
    const t = this.acked.get(id);
    if (t !== undefined) return t;
    // A seeded key not yet touched holds version 1 of its seed (its n is not checked).
    return key.startsWith('r') ? { version: 1, n: -1 } : undefined;
  }

  /** A user and key no other loop is working on: a seeded key to update or delete (or re-create), or a new key. */
  private pick(insert: boolean): { userId: string; key: string; id: string } {
    for (let attempt = 0; attempt < 8; attempt++) {
      const userId = this.users[Math.floor(Math.random() * this.users.length)]!;
      const key = insert ? `w${++this.n}` : `r${Math.floor(Math.random() * this.seeded)}`;
      const id = `${userId}/${key}`;
      if (!this.inFlight.has(id) && !this.unresolvedKeys.has(id)) return { userId, key, id };
    }
    return this.pick(true);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      await this.limiter.take(1);
      if (!this.running) break;
      const r = Math.random();
      const { userId, key, id } = this.pick(r < 1 / 3);
      this.inFlight.add(id);
      try {
        // Its statements counted apart, so that the bench can tell the migration's from the writer's.
        await meteredAs('writer', () => this.operate(userId, key, id, r));
      } finally {
        this.inFlight.delete(id);
      }
      await yieldToEventLoop();
    }
  }

  private async operate(userId: string, key: string, id: string, r: number): Promise<void> {
    const before = this.stateOf(id, key);
    const exists = before !== undefined && before !== 'deleted';
    const op = r < 1 / 3 || !exists ? 'insert' : r < 2 / 3 ? 'update' : 'delete';
    const n = ++this.n;
    try {
      if (op === 'delete') {
        const { deleted } = await routeToHome(this.platform, userId, 'shop', (c, ref) =>
          c.deleteRecord({ ...ref, collection: 'orders', key }),
        );
        this.acked.set(id, 'deleted');
        if (deleted) this.rowDelta--;
        else this.missingAtDelete++;
      } else {
        const value = recordValue(n, this.options.valueBytes, this.options.pool);
        const { version } = await routeToHome(this.platform, userId, 'shop', (c, ref) =>
          c.putRecord({ ...ref, collection: 'orders', key, value }),
        );
        this.acked.set(id, { version, n });
        if (!exists) this.rowDelta++;
      }
      this.counts[op]++;
    } catch {
      this.counts.refused++;
      await this.resolve(userId, key, id, before, op === 'delete' ? 'deleted' : n);
    }
  }

  /** After a refusal: what the store holds now, in case the refused write was applied after all. */
  private async resolve(
    userId: string,
    key: string,
    id: string,
    before: KeyState | undefined,
    attempted: number | 'deleted',
  ): Promise<void> {
    let served: KeyState;
    try {
      served = await this.served(userId, key);
    } catch {
      this.unresolvedKeys.add(id);
      return;
    }
    const applied =
      attempted === 'deleted'
        ? served === 'deleted' && before !== undefined && before !== 'deleted'
        : served !== 'deleted' && served.n === attempted;
    if (!applied) return;
    this.counts.refusedButApplied++;
    this.acked.set(id, served);
    const wasLive = before !== undefined && before !== 'deleted';
    if (attempted === 'deleted') this.rowDelta--;
    else if (!wasLive) this.rowDelta++;
  }

  private async served(userId: string, key: string): Promise<KeyState> {
    const record = await routeToHome(this.platform, userId, 'shop', (c, ref) =>
      c.getRecord({ ...ref, collection: 'orders', key }),
    );
    return record === null ? 'deleted' : { version: record.version, n: (record.value as { n: number }).n };
  }

  /** What the writer last had acknowledged for each key it touched (live: a record it wrote; else deleted). */
  *lastAcknowledged(): Iterable<{ userId: string; key: string; live: boolean }> {
    for (const [id, t] of this.acked) {
      const [userId, key] = id.split('/') as [string, string];
      yield { userId, key, live: t !== 'deleted' };
    }
  }

  /**
   * Checks every key the writer touched against what its home serves now, and the row count:
   * `rowsNow` is the shop's rows in the regions that serve the writer's users. Call after stop().
   */
  async check(rowsNow: number): Promise<WriterCheck> {
    let lostKeys = this.missingAtDelete;
    for (const [id, t] of this.acked) {
      if (this.unresolvedKeys.has(id)) continue;
      const [userId, key] = id.split('/') as [string, string];
      const served = await this.served(userId, key);
      if (
        t === 'deleted'
          ? served !== 'deleted'
          : served === 'deleted' || served.version !== t.version || served.n !== t.n
      )
        lostKeys++;
    }
    return { lostKeys, rowCountDrift: rowsNow - (this.users.length * this.seeded + this.rowDelta) };
  }
}
