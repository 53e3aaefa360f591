import pg from 'pg';
import { DomicileError } from '../../errors/domicile-error.js';

/** int8 as number: every bigint Domicile keeps (seqs, versions, epochs, times) stays far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A pool on one of Domicile's PostgreSQL databases (a region's store, the directory), the one
 * way they are all opened: bigints as numbers, an optional schema of its own (a plain identifier,
 * checked: it goes into the connection's options), and idle connections the server drops never
 * crashing the process.
 */
export function openPgPool(options: {
  url: string;
  schema?: string | undefined;
  size?: number;
  what: string;
  keepAlive?: boolean;
}): pg.Pool {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
    throw new DomicileError(
      'BAD_REQUEST',
      `${options.what}'s schema is a plain lower-case identifier, not "${options.schema}"`,
    );
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.size ?? 10,
    types,
    ...(options.keepAlive ? { keepAlive: true } : {}),
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', () => undefined);
  return pool;
}

/** host:port/database of a URL, to name it in messages (never its credentials). */
export function pgWhere(url: string): string {
  const at = new URL(url);
  return `${at.host}${at.pathname}`;
}

/**
 * Runs fn with a client of the pool. A connection the server drops while it is checked out
 * emits 'error': heard here (else it is an uncaught exception that ends the process), and the
 * client is then thrown away rather than returned to the pool.
 */
export async function withPgClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Runs fn in one transaction (READ COMMITTED unless fn sets otherwise first): committed if it returns, rolled back if it throws. */
export function inPgTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withPgClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}
