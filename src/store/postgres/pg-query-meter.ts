import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';

/** Statements sent and the time spent waiting for their answers (network and server), in ms. */
export interface PgQueryCount {
  statements: number;
  waitingMs: number;
}

/** Who a statement is sent for, when a bench wants to tell its own load from what it measures. */
const meterTag = new AsyncLocalStorage<string>();

/** Runs fn with its statements counted under `tag` (by every meter that sees them) rather than 'other'. */
export function meteredAs<T>(tag: string, fn: () => T): T {
  return meterTag.run(tag, fn);
}

type QueryFn = (...args: unknown[]) => unknown;

/**
 * Counts the statements (round trips) a pool's connections send and the time until each is
 * answered, per tag (meteredAs), so that a benchmark can print round trips per row and time
 * waiting on the server beside its rates, and a test can hold a batch to a constant number of
 * statements. Pipelined statements on one connection overlap in waitingMs.
 */
export class PgQueryMeter {
  private readonly counts = new Map<string, PgQueryCount>();
  private readonly listeners: Array<(text: string, values: readonly unknown[]) => void> = [];

  /** Hears every statement's text and parameters (a test EXPLAINs the statements a store sends). */
  listen(listener: (text: string, values: readonly unknown[]) => void): void {
    this.listeners.push(listener);
  }

  /** Counts every statement of the pool's connections from now on. */
  watch(pool: pg.Pool): void {
    pool.on('connect', (client) => this.watchClient(client));
  }

  private watchClient(client: pg.PoolClient): void {
    const query = client.query.bind(client) as QueryFn;
    const counted: QueryFn = (...args) => {
      const count = this.countOf(meterTag.getStore() ?? 'other');
      count.statements++;
      if (this.listeners.length > 0) this.heard(args);
      const started = performance.now();
      const done = () => {
        count.waitingMs += performance.now() - started;
      };
      // pg-pool's own query() passes a callback; the store's calls take the promise.
      const last = args.at(-1);
      if (typeof last === 'function') {
        const callback = last as (...a: unknown[]) => unknown;
        return query(...args.slice(0, -1), (...a: unknown[]) => {
          done();
          return callback(...a);
        });
      }
      const out = query(...args);
      if (out instanceof Promise) out.then(done, done);
      return out;
    };
    client.query = counted as typeof client.query;
  }

  private heard(args: readonly unknown[]): void {
    const [first, second] = args;
    const config =
      typeof first === 'object' && first !== null ? (first as { text?: unknown; values?: unknown }) : undefined;
    const text = typeof first === 'string' ? first : config?.text;
    const values = Array.isArray(second) ? second : Array.isArray(config?.values) ? config.values : [];
    if (typeof text === 'string') for (const listener of this.listeners) listener(text, values);
  }

  private countOf(tag: string): PgQueryCount {
    let count = this.counts.get(tag);
    if (!count) {
      count = { statements: 0, waitingMs: 0 };
      this.counts.set(tag, count);
    }
    return count;
  }

  /** The counts so far, per tag and in total. */
  read(): { total: PgQueryCount; byTag: Record<string, PgQueryCount> } {
    const byTag: Record<string, PgQueryCount> = {};
    const total = { statements: 0, waitingMs: 0 };
    for (const [tag, c] of this.counts) {
      byTag[tag] = { ...c };
      total.statements += c.statements;
      total.waitingMs += c.waitingMs;
    }
    return { total, byTag };
  }
}

/** Every PostgreSQL region store's statements in this process: what bench migrate reads. */
export const regionStoreMeter = new PgQueryMeter();
